/* dist_nccl.h - gradient sums of CUDA ranks on NCCL (strata issue #16),
 * bootstrapped through MPI: rank 0 makes the NCCL id and st_dist_bcast
 * hands it to the others.
 *
 * The CUDA backend runs everything on the legacy default stream
 * (core/cuda/cuda_common.h). NCCL runs on a stream of its own, created
 * non-blocking so that it does not synchronise with the legacy stream: a
 * sum starts after an event recorded on the compute stream (the gradients
 * it reads are written), and the compute stream waits for the sums on an
 * event recorded after them, so the backward of the layers below goes on
 * while a bucket travels and the update runs only after every bucket
 * arrived. The host never waits.
 *
 * Built only with CUDA and NCCL (STRATA_HAVE_NCCL); elsewhere
 * st_nccl_available() is 0 and the rest is never called. */
#ifndef ST_DIST_NCCL_H
#define ST_DIST_NCCL_H

#include <stddef.h>

int st_nccl_available(void);
/* the communicator over every rank of the job, on the current CUDA device
 * (collective: every rank calls it, after the backend chose its device);
 * idempotent */
int st_nccl_init(void);
/* bufs[i][0..n[i]) (device memory) summed over the ranks in place, as one
 * NCCL group, after the work queued so far on the compute stream */
int st_nccl_sum_start(float *const *bufs, const size_t *n, int count);
/* the compute stream waits for every sum started so far */
int st_nccl_sum_join(void);
/* frees the communicator and the stream (before MPI_Finalize) */
void st_nccl_finalize(void);

#endif
