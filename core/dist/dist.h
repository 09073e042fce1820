/* dist.h - the processes of a data-parallel job and what they exchange
 * (strata issue #16): rank, size, barrier, broadcast, sums of buffers
 * (blocking, or started now and completed later), abort.
 *
 * A process is one rank of a job only when a launcher started it: Open
 * MPI's mpirun sets OMPI_COMM_WORLD_SIZE, MPICH's Hydra PMI_SIZE, PMIx
 * launchers (srun, prterun) PMIX_RANK. Only then does st_dist_init call
 * MPI_Init, so a plain `strata run` never touches MPI. Without a launcher,
 * or in a build without MPI, the process is rank 0 of 1 and every
 * operation below is a no-op that succeeds.
 *
 * MPI is process-wide, so this is too: one job per process, no handle.
 * Every rank must call the collective operations in the same order.
 *
 * Sums and their order. st_dist_sum_f64 gathers every rank's buffer and
 * adds them in rank order on every rank: the same bits everywhere and on
 * every run with the same N (counts, losses, metrics: small buffers).
 * st_dist_sum_f32 and st_dist_isum_f32 are MPI_Allreduce and
 * MPI_Iallreduce (gradients: large buffers); the algorithms Open MPI picks
 * (recursive doubling, ring, Rabenseifner) reduce each element once and
 * hand that one result to every rank, and IEEE addition commutes, so the
 * replicas receive the same bits; the order depends on N and the size
 * only. */
#ifndef ST_DIST_H
#define ST_DIST_H

#include <stddef.h>

/* Joins the job when a launcher started this process (MPI_Init_thread,
 * funneled: only the thread that called it talks to MPI). Idempotent.
 * Launched with N > 1 by a binary built without MPI is an error. */
int st_dist_init(void);
/* MPI_Finalize after a job; nothing otherwise */
void st_dist_finalize(void);
/* 1 when this process is one rank of a job with more than one */
int st_dist_active(void);
int st_dist_rank(void);
int st_dist_size(void);
/* the environment variable that makes this process a rank (before
 * st_dist_init too), "" when none */
const char *st_dist_launcher(void);

int st_dist_barrier(void);
/* bytes from root to every rank */
int st_dist_bcast(void *buf, size_t bytes, int root);
/* a string from root to every rank: *s in at root, a malloc'ed copy out
 * elsewhere (free the old one first) */
int st_dist_bcast_str(char **s, int root);

/* x[0..n) = its sum over the ranks, in place, in rank order (above) */
int st_dist_sum_f64(double *x, size_t n);
/* x[0..n) = its sum over the ranks, in place (MPI_Allreduce) */
int st_dist_sum_f32(float *x, size_t n);

/* A sum started now and completed by st_dist_wait; x must not be touched
 * in between. Open MPI moves a non-blocking collective on only inside MPI
 * calls: st_dist_test on the outstanding ones, between pieces of work,
 * lets it overlap them. */
typedef struct st_dist_req {
  void *impl;
} st_dist_req;
int st_dist_isum_f32(float *x, size_t n, st_dist_req *req);
/* *done = 1 once complete (then the request is finished and freed) */
int st_dist_test(st_dist_req *req, int *done);
int st_dist_wait(st_dist_req *req);

/* Ends every rank of the job with status code (MPI_Abort): the way out of
 * an error on one rank, which would otherwise leave the others waiting in
 * a collective. Print the message first. Returns only without a job. */
void st_dist_abort(int code);

#endif
