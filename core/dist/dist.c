/* dist.c - MPI behind dist.h, and the single process when there is no job
 * (no launcher, or a build without MPI: STRATA_HAVE_MPI unset). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "dist_nccl.h"
#include "error.h"

#ifdef STRATA_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank, g_size = 1;
static const char *g_launcher = "";

/* the variables launchers set, with the size when they give it */
static const char *const launch_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                          "PMIX_RANK"};

static const char *launched_by(void) {
  for (size_t i = 0; i < sizeof launch_vars / sizeof *launch_vars; i++)
    if (getenv(launch_vars[i])) return launch_vars[i];
  return NULL;
}

int st_dist_active(void) { return g_size > 1; }
int st_dist_rank(void) { return g_rank; }
int st_dist_size(void) { return g_size; }
const char *st_dist_launcher(void) {
  const char *v = g_launcher[0] ? g_launcher : launched_by();
  return v ? v : "";
}

#ifdef STRATA_HAVE_MPI

static int g_mpi; /* MPI_Init was called here */

static int mpi_err(const char *what, int rc) {
  char s[MPI_MAX_ERROR_STRING];
  int n = 0;
  if (MPI_Error_string(rc, s, &n) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", rc);
  return st_err("rank %d of %d: %s: %s", g_rank, g_size, what, s);
}
#define MPI_CALL(what, call)                       \
  do {                                             \
    int rc_ = (call);                              \
    if (rc_ != MPI_SUCCESS) return mpi_err(what, rc_); \
  } while (0)

int st_dist_init(void) {
  if (g_mpi) return ST_OK;
  const char *var = launched_by();
  if (!var) return ST_OK;
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    MPI_CALL("MPI_Init_thread",
             MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided));
  }
  g_mpi = 1;
  g_launcher = var;
  /* errors come back as codes, so they name the rank and the call */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_CALL("MPI_Comm_rank", MPI_Comm_rank(MPI_COMM_WORLD, &g_rank));
  MPI_CALL("MPI_Comm_size", MPI_Comm_size(MPI_COMM_WORLD, &g_size));
  return ST_OK;
}

void st_dist_finalize(void) {
  if (!g_mpi) return;
  st_nccl_finalize();
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
  g_mpi = 0;
  g_rank = 0;
  g_size = 1;
}

int st_dist_barrier(void) {
  if (g_size < 2) return ST_OK;
  MPI_CALL("MPI_Barrier", MPI_Barrier(MPI_COMM_WORLD));
  return ST_OK;
}

int st_dist_bcast(void *buf, size_t bytes, int root) {
  if (g_size < 2) return ST_OK;
  /* MPI counts are int: large payloads go in pieces */
  for (size_t at = 0; at < bytes;) {
    size_t n = bytes - at < (size_t)INT_MAX ? bytes - at : (size_t)INT_MAX;
    MPI_CALL("MPI_Bcast", MPI_Bcast((char *)buf + at, (int)n, MPI_BYTE, root,
                                    MPI_COMM_WORLD));
    at += n;
  }
  return ST_OK;
}

int st_dist_sum_f64(double *x, size_t n) {
  if (g_size < 2 || !n) return ST_OK;
  if (n > (size_t)INT_MAX / (size_t)g_size)
    return st_err("rank %d: a sum of %zu doubles over %d ranks is too large to "
                  "gather", g_rank, n, g_size);
  double *all = st_malloc(n * (size_t)g_size * sizeof *all);
  if (!all) return ST_ERR;
  int rc = MPI_Allgather(x, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE,
                         MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) {
    free(all);
    return mpi_err("MPI_Allgather", rc);
  }
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (int r = 0; r < g_size; r++) s += all[(size_t)r * n + i];
    x[i] = s;
  }
  free(all);
  return ST_OK;
}

static int count_of(size_t n, int *count) {
  if (n > (size_t)INT_MAX)
    return st_err("rank %d: a sum of %zu floats is larger than one MPI "
                  "message (%d)", g_rank, n, INT_MAX);
  *count = (int)n;
  return ST_OK;
}

int st_dist_sum_f32(float *x, size_t n) {
  int count = 0;
  if (g_size < 2 || !n) return ST_OK;
  if (count_of(n, &count)) return ST_ERR;
  MPI_CALL("MPI_Allreduce", MPI_Allreduce(MPI_IN_PLACE, x, count, MPI_FLOAT,
                                          MPI_SUM, MPI_COMM_WORLD));
  return ST_OK;
}

int st_dist_isum_f32(float *x, size_t n, st_dist_req *req) {
  int count = 0;
  req->impl = NULL;
  if (g_size < 2 || !n) return ST_OK;
  if (count_of(n, &count)) return ST_ERR;
  MPI_Request *q = st_malloc(sizeof *q);
  if (!q) return ST_ERR;
  int rc = MPI_Iallreduce(MPI_IN_PLACE, x, count, MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD, q);
  if (rc != MPI_SUCCESS) {
    free(q);
    return mpi_err("MPI_Iallreduce", rc);
  }
  req->impl = q;
  return ST_OK;
}

int st_dist_test(st_dist_req *req, int *done) {
  *done = 1;
  if (!req->impl) return ST_OK;
  int flag = 0, rc = MPI_Test(req->impl, &flag, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) return mpi_err("MPI_Test", rc);
  if (!flag) {
    *done = 0;
    return ST_OK;
  }
  free(req->impl);
  req->impl = NULL;
  return ST_OK;
}

int st_dist_wait(st_dist_req *req) {
  if (!req->impl) return ST_OK;
  int rc = MPI_Wait(req->impl, MPI_STATUS_IGNORE);
  free(req->impl);
  req->impl = NULL;
  return rc == MPI_SUCCESS ? ST_OK : mpi_err("MPI_Wait", rc);
}

void st_dist_abort(int code) {
  if (g_mpi) MPI_Abort(MPI_COMM_WORLD, code);
}

#else /* no MPI: a launcher that starts several copies is an error */

int st_dist_init(void) {
  const char *var = launched_by(), *size = var ? getenv(var) : NULL;
  /* PMIX_RANK gives no size: only a rank other than 0 proves a job */
  if (var && size && (strcmp(var, "PMIX_RANK") ? atoi(size) > 1 : atoi(size) > 0))
    return st_err("started as one of several processes (%s=%s), but this "
                  "strata was built without MPI: install libopenmpi-dev and "
                  "rebuild (scripts/install_deps)", var, size);
  return ST_OK;
}
void st_dist_finalize(void) {}
int st_dist_barrier(void) { return ST_OK; }
int st_dist_bcast(void *buf, size_t bytes, int root) { return ST_OK; }
int st_dist_sum_f64(double *x, size_t n) { return ST_OK; }
int st_dist_sum_f32(float *x, size_t n) { return ST_OK; }
int st_dist_isum_f32(float *x, size_t n, st_dist_req *req) {
  req->impl = NULL;
  return ST_OK;
}
int st_dist_test(st_dist_req *req, int *done) {
  *done = 1;
  return ST_OK;
}
int st_dist_wait(st_dist_req *req) { return ST_OK; }
void st_dist_abort(int code) {}

#endif

int st_dist_bcast_str(char **s, int root) {
  if (g_size < 2) return ST_OK;
  uint64_t n = g_rank == root ? strlen(*s) + 1 : 0;
  if (st_dist_bcast(&n, sizeof n, root)) return ST_ERR;
  if (g_rank != root && !(*s = st_malloc((size_t)n))) return ST_ERR;
  return st_dist_bcast(*s, (size_t)n, root);
}
