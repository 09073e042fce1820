/* backend_cuda.cu - the CUDA backend's table: device setup, memory and the
 * caching allocator.
 *
 * The training loop allocates its buffers once per plan, but scratch buffers
 * (attention's row sums, reductions) come and go every op; cudaMalloc and
 * cudaFree synchronise the device and cost tens of microseconds, so freed
 * blocks are kept and handed out again. One host thread drives the backend
 * (as with the CPU one), so the allocator takes no lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.h"

void cuda_fatal(const char *call, const char *msg, const char *file,
                int line) {
  fprintf(stderr, "strata: CUDA failure: %s: %s (%s:%d)\n", call, msg, file,
          line);
  exit(2);
}

/* ------------------------------------------------------------------------ */
/* caching allocator */

typedef struct {
  void *p;
  size_t bytes; /* rounded size class */
  int used;
} cuda_block;

static cuda_block *blocks;
static int n_blocks, cap_blocks;

/* Size classes: round up to a multiple of the power of two just above
 * bytes/8 (at least 512), so a freed block fits later requests of the same
 * class exactly and under a quarter of a block is ever wasted. */
static size_t size_class(size_t bytes) {
  if (bytes <= 512) return 512;
  size_t p = 512;
  while (p < bytes / 8 && p < ((size_t)1 << 62)) p <<= 1;
  return (bytes + p - 1) / p * p;
}

/* gives every unused block back to the driver (when cudaMalloc fails) */
static void release_cached(void) {
  int j = 0;
  for (int i = 0; i < n_blocks; i++) {
    if (blocks[i].used)
      blocks[j++] = blocks[i];
    else
      CUDA_CHECK(cudaFree(blocks[i].p));
  }
  n_blocks = j;
}

void *cuda_alloc(size_t bytes) {
  size_t sz = size_class(bytes);
  if (sz < bytes) {
    st_err("cuda: cannot allocate %zu bytes", bytes);
    return NULL;
  }
  void *p = NULL;
  for (int i = 0; i < n_blocks; i++)
    if (!blocks[i].used && blocks[i].bytes == sz) {
      blocks[i].used = 1;
      p = blocks[i].p;
      break;
    }
  if (!p) {
    if (n_blocks == cap_blocks) {
      int cap = cap_blocks ? 2 * cap_blocks : 256;
      cuda_block *nb = (cuda_block *)realloc(blocks, cap * sizeof *nb);
      if (!nb) {
        st_err("cuda: out of host memory for the allocator's table");
        return NULL;
      }
      blocks = nb;
      cap_blocks = cap;
    }
    cudaError_t e = cudaMalloc(&p, sz);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError(); /* clear it; retry after freeing the cache */
      release_cached();
      e = cudaMalloc(&p, sz);
    }
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) free_b = total_b = 0;
      st_err("cuda: out of device memory allocating %zu bytes (%zu of %zu "
             "MiB free)",
             bytes, free_b >> 20, total_b >> 20);
      return NULL;
    }
    CUDA_CHECK(e);
    blocks[n_blocks].p = p;
    blocks[n_blocks].bytes = sz;
    blocks[n_blocks].used = 1;
    n_blocks++;
  }
  if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, 0));
  return p;
}

void cuda_free(void *p) {
  if (!p) return;
  /* newest first: scratch buffers are freed soon after they are taken */
  for (int i = n_blocks - 1; i >= 0; i--)
    if (blocks[i].p == p) {
      if (!blocks[i].used)
        cuda_fatal("cuda_free", "block freed twice", __FILE__, __LINE__);
      blocks[i].used = 0;
      return;
    }
  cuda_fatal("cuda_free", "pointer not from this allocator", __FILE__,
             __LINE__);
}

/* ------------------------------------------------------------------------ */
/* transfers; all on the default stream, so they are ordered with kernels */

static void cuda_upload(void *dst, const void *host_src, size_t bytes) {
  if (bytes)
    CUDA_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
}

static void cuda_download(void *host_dst, const void *src, size_t bytes) {
  if (bytes)
    CUDA_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
}

static void cuda_copy(void *dst, const void *src, size_t bytes) {
  if (bytes && dst != src)
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0));
}

static void cuda_zero(void *p, size_t bytes) {
  if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, 0));
}

static void cuda_sync(void) { CUDA_CHECK(cudaDeviceSynchronize()); }

/* ------------------------------------------------------------------------ */
/* device setup */

static cublasHandle_t cublas;
static int bf16_mode;

int cuda_bf16(void) { return bf16_mode; }
static void cuda_set_bf16(int on) { bf16_mode = on != 0; }

cublasHandle_t cuda_cublas(void) { return cublas; }

static st_backend cuda_backend;
static int init_state; /* 0 not tried, 1 ready, -1 failed */
static char init_msg[256];

static int cuda_init(void) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    snprintf(init_msg, sizeof init_msg, "no CUDA device (%s)",
             e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    (void)cudaGetLastError();
    return ST_ERR;
  }
  /* one rank per GPU: a data-parallel job's ranks on one node take the
   * devices in turn by their local rank (Open MPI's, else Slurm's) */
  const char *lr = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  if (!lr) lr = getenv("SLURM_LOCALID");
  int dev = lr ? atoi(lr) % n : 0;
  e = cudaSetDevice(dev);
  if (e == cudaSuccess) e = cudaFree(0); /* creates the context now */
  if (e != cudaSuccess) {
    snprintf(init_msg, sizeof init_msg, "cuda: cannot use device %d: %s", dev,
             cudaGetErrorString(e));
    (void)cudaGetLastError();
    return ST_ERR;
  }
  if (cuda_cublas_load(init_msg, sizeof init_msg)) return ST_ERR;
  cublasStatus_t s = cuda_blas.create(&cublas);
  if (s != CUBLAS_STATUS_SUCCESS) {
    snprintf(init_msg, sizeof init_msg, "cuda: cuBLAS init failed: %s",
             cuda_blas.status_string(s));
    return ST_ERR;
  }
  /* fp32 GEMMs on the tensor cores (TF32 inputs, fp32 accumulation), as
   * PyTorch does with allow_tf32; gemm.cu asks for it per call too */
  CUBLAS_CHECK(cuda_blas.set_math_mode(cublas, CUBLAS_TF32_TENSOR_OP_MATH));
  CUBLAS_CHECK(cuda_blas.set_stream(cublas, 0));
  /* Hopper kernels want a larger workspace than cuBLAS's default */
  size_t ws_bytes = (size_t)32 << 20;
  void *ws = cuda_alloc(ws_bytes);
  if (!ws) {
    snprintf(init_msg, sizeof init_msg, "%s", st_errmsg());
    return ST_ERR;
  }
  CUBLAS_CHECK(cuda_blas.set_workspace(cublas, ws, ws_bytes));

  st_backend *b = &cuda_backend;
  b->name = "cuda";
  b->alloc = cuda_alloc;
  b->free = cuda_free;
  b->upload = cuda_upload;
  b->download = cuda_download;
  b->copy = cuda_copy;
  b->zero = cuda_zero;
  b->sync = cuda_sync;
  b->gemm = cuda_gemm;
  b->add_bias = cuda_add_bias;
  b->bias_grad = cuda_bias_grad;
  b->add = cuda_add;
  b->acc = cuda_acc;
  b->scale = cuda_scale;
  b->sumsq = cuda_sumsq;
  b->sum = cuda_sum;
  b->host = 0; /* a file mapping must be uploaded, never used in place */
  b->embed_fwd = cuda_embed_fwd;
  b->embed_fwd_h = cuda_embed_fwd_h;
  b->embed_bwd = cuda_embed_bwd;
  b->rmsnorm_fwd = cuda_rmsnorm_fwd;
  b->rmsnorm_bwd = cuda_rmsnorm_bwd;
  b->layernorm_fwd = cuda_layernorm_fwd;
  b->layernorm_bwd = cuda_layernorm_bwd;
  b->rope = cuda_rope;
  b->attn_fwd = cuda_attn_fwd;
  b->attn_bwd = cuda_attn_bwd;
  b->attn_window = 0; /* sliding windows: cpu only */
  b->gelu_fwd = cuda_gelu_fwd;
  b->gelu_bwd = cuda_gelu_bwd;
  b->swiglu_fwd = cuda_swiglu_fwd;
  b->swiglu_bwd = cuda_swiglu_bwd;
  b->softmax_ce = cuda_softmax_ce;
  b->dropout = cuda_dropout;
  b->adamw = cuda_adamw;
  b->widen = cuda_widen;
  b->narrow = cuda_narrow;
  b->set_bf16 = cuda_set_bf16;
  return ST_OK;
}

extern "C" const st_backend *st_backend_cuda(void) {
  if (init_state == 0) init_state = cuda_init() == ST_OK ? 1 : -1;
  if (init_state < 0) {
    st_err("%s", init_msg);
    return NULL;
  }
  return &cuda_backend;
}
