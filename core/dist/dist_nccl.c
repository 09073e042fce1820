/* dist_nccl.c - NCCL behind dist_nccl.h. */
#include "dist_nccl.h"
#include "dist.h"
#include "error.h"

#ifdef STRATA_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

static ncclComm_t g_comm;
static cudaStream_t g_stream;
static cudaEvent_t g_computed, g_summed; /* on the compute / the NCCL stream */
static int g_ready;

#define CU(call)                                                              \
  do {                                                                        \
    cudaError_t e_ = (call);                                                  \
    if (e_ != cudaSuccess)                                                    \
      return st_err("rank %d: %s: %s", st_dist_rank(), #call,                 \
                    cudaGetErrorString(e_));                                  \
  } while (0)
#define NC(call)                                                              \
  do {                                                                        \
    ncclResult_t r_ = (call);                                                 \
    if (r_ != ncclSuccess)                                                    \
      return st_err("rank %d: %s: %s", st_dist_rank(), #call,                 \
                    ncclGetErrorString(r_));                                  \
  } while (0)

int st_nccl_available(void) { return 1; }

int st_nccl_init(void) {
  if (g_ready) return ST_OK;
  ncclUniqueId id;
  if (st_dist_rank() == 0) NC(ncclGetUniqueId(&id));
  if (st_dist_bcast(&id, sizeof id, 0)) return ST_ERR;
  NC(ncclCommInitRank(&g_comm, st_dist_size(), id, st_dist_rank()));
  CU(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  CU(cudaEventCreateWithFlags(&g_computed, cudaEventDisableTiming));
  CU(cudaEventCreateWithFlags(&g_summed, cudaEventDisableTiming));
  g_ready = 1;
  return ST_OK;
}

int st_nccl_sum_start(float *const *bufs, const size_t *n, int count) {
  if (!g_ready) return st_err("rank %d: NCCL sum before st_nccl_init", st_dist_rank());
  /* 0: the legacy default stream, where the backward wrote the gradients */
  CU(cudaEventRecord(g_computed, 0));
  CU(cudaStreamWaitEvent(g_stream, g_computed, 0));
  NC(ncclGroupStart());
  for (int i = 0; i < count; i++)
    if (n[i]) {
      ncclResult_t r = ncclAllReduce(bufs[i], bufs[i], n[i], ncclFloat, ncclSum,
                                     g_comm, g_stream);
      if (r != ncclSuccess) {
        ncclGroupEnd();
        return st_err("rank %d: ncclAllReduce of %zu floats: %s", st_dist_rank(),
                      n[i], ncclGetErrorString(r));
      }
    }
  NC(ncclGroupEnd());
  return ST_OK;
}

int st_nccl_sum_join(void) {
  if (!g_ready) return ST_OK;
  CU(cudaEventRecord(g_summed, g_stream));
  CU(cudaStreamWaitEvent(0, g_summed, 0));
  return ST_OK;
}

void st_nccl_finalize(void) {
  if (!g_ready) return;
  cudaStreamSynchronize(g_stream);
  ncclCommDestroy(g_comm);
  cudaEventDestroy(g_computed);
  cudaEventDestroy(g_summed);
  cudaStreamDestroy(g_stream);
  g_ready = 0;
}

#else

int st_nccl_available(void) { return 0; }
int st_nccl_init(void) { return st_err("strata was built without NCCL"); }
int st_nccl_sum_start(float *const *bufs, const size_t *n, int count) {
  return st_err("strata was built without NCCL");
}
int st_nccl_sum_join(void) { return ST_OK; }
void st_nccl_finalize(void) {}

#endif
