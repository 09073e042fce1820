/* backend_cpu.c - the CPU backend's table, memory and thread count.
 *
 * "Device" memory is host memory, so transfers are memcpy. Allocations are
 * 64-byte aligned (one cache line, one AVX-512 vector). */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu.h"
#include "error.h"

/* ------------------------------------------------------------------------ */
/* threads */

/* 0 until st_set_threads runs (or the backend is first fetched) */
static int n_threads = 0;

void st_set_threads(int n) {
  if (n <= 0)
    n = omp_get_num_procs();
  n_threads = n;
  omp_set_num_threads(n);
  /* the same count for both pools: they take turns (OpenBLAS is only called
   * between parallel regions), so together they never oversubscribe */
  openblas_set_num_threads(n);
}

int st_get_threads(void) {
  return n_threads ? n_threads : omp_get_max_threads();
}

/* A program that never calls st_set_threads still gets matching pools:
 * OpenMP's count (OMP_NUM_THREADS or all cores) is given to OpenBLAS too. */
void st_cpu_threads_init(void) {
  if (!n_threads)
    st_set_threads(omp_get_max_threads());
}

/* ------------------------------------------------------------------------ */
/* memory */

static void *cpu_alloc(size_t bytes) {
  /* aligned_alloc wants a multiple of the alignment, and 0 bytes would give
   * NULL, which callers would read as failure */
  size_t n = bytes ? (bytes + 63) / 64 * 64 : 64;
  if (n < bytes) {
    st_err("cpu: cannot allocate %zu bytes", bytes);
    return NULL;
  }
  void *p = aligned_alloc(64, n);
  if (!p) {
    st_err("cpu: out of memory allocating %zu bytes", bytes);
    return NULL;
  }
  memset(p, 0, n);
  return p;
}

static void cpu_free(void *p) { free(p); }

static void cpu_memcpy(void *dst, const void *src, size_t bytes) {
  if (bytes && dst != src)
    memcpy(dst, src, bytes);
}

static void cpu_zero(void *p, size_t bytes) {
  if (bytes)
    memset(p, 0, bytes);
}

/* everything runs synchronously */
static void cpu_sync(void) {}

/* ------------------------------------------------------------------------ */

static const st_backend cpu_backend = {
    .name = "cpu",
    .host = 1,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .copy = cpu_memcpy,
    .zero = cpu_zero,
    .sync = cpu_sync,
    .gemm = st_cpu_gemm,
    .add_bias = st_cpu_add_bias,
    .bias_grad = st_cpu_bias_grad,
    .add = st_cpu_add,
    .acc = st_cpu_acc,
    .scale = st_cpu_scale,
    .sumsq = st_cpu_sumsq,
    .sum = st_cpu_sum,
    .embed_fwd = st_cpu_embed_fwd,
    .embed_fwd_h = st_cpu_embed_fwd_h,
    .embed_bwd = st_cpu_embed_bwd,
    .rmsnorm_fwd = st_cpu_rmsnorm_fwd,
    .rmsnorm_bwd = st_cpu_rmsnorm_bwd,
    .layernorm_fwd = st_cpu_layernorm_fwd,
    .layernorm_bwd = st_cpu_layernorm_bwd,
    .rope = st_cpu_rope,
    .attn_fwd = st_cpu_attn_fwd,
    .attn_bwd = st_cpu_attn_bwd,
    .attn_window = 1,
    .gelu_fwd = st_cpu_gelu_fwd,
    .gelu_bwd = st_cpu_gelu_bwd,
    .swiglu_fwd = st_cpu_swiglu_fwd,
    .swiglu_bwd = st_cpu_swiglu_bwd,
    .softmax_ce = st_cpu_softmax_ce,
    .dropout = st_cpu_dropout,
    .adamw = st_cpu_adamw,
    .widen = st_cpu_widen,
    .narrow = st_cpu_narrow,
};

const st_backend *st_backend_cpu(void) {
  st_cpu_threads_init();
  return &cpu_backend;
}
