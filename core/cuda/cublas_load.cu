/* cublas_load.cu - cuBLAS, opened when the CUDA backend starts.
 *
 * Linked directly, libcublas pulls in libcublasLt, whose initialisers cost
 * every process about 150 MB of resident memory before main: CPU runs of a
 * CUDA-enabled build included, and on a laptop-sized fine-tune that is a
 * tenth of the budget. So strata links only the CUDA runtime (a few MB) and
 * dlopen()s the cuBLAS these headers were built against (its soname carries
 * the major version) from cuda_init, resolving the handful of calls the
 * backend makes. tests/unit/test_cublas_load.c checks every name resolves;
 * tests/e2e/test_cpu_libs.sh that a CPU run never maps it. */
#include <dlfcn.h>
#include <stdio.h>

#include "cuda_common.h"

cuda_cublas_api cuda_blas;

#define STR2(x) #x
#define STR(x) STR2(x)
#define CUBLAS_SONAME "libcublas.so." STR(CUBLAS_VER_MAJOR)

/* cublas_v2.h maps cublasCreate to cublasCreate_v2 and so on: these are the
 * names the library exports */
#define RESOLVE(field, sym)                                                  \
  do {                                                                       \
    *(void **)&api.field = dlsym(h, sym);                                    \
    if (!api.field) {                                                        \
      snprintf(msg, len, "cuda: %s has no symbol %s", CUBLAS_SONAME, sym);   \
      return ST_ERR;                                                         \
    }                                                                        \
  } while (0)

int cuda_cublas_load(char *msg, size_t len) {
  if (cuda_blas.gemm_ex) return ST_OK;
  /* RTLD_LOCAL: its symbols serve only the pointers taken here */
  void *h = dlopen(CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(msg, len, "cuda: cannot load cuBLAS: %s (is the CUDA toolkit's "
             "lib folder on the loader's path?)", e ? e : CUBLAS_SONAME);
    return ST_ERR;
  }
  cuda_cublas_api api;
  RESOLVE(create, "cublasCreate_v2");
  RESOLVE(status_string, "cublasGetStatusString");
  RESOLVE(set_math_mode, "cublasSetMathMode");
  RESOLVE(set_stream, "cublasSetStream_v2");
  RESOLVE(set_workspace, "cublasSetWorkspace_v2");
  RESOLVE(gemm_ex, "cublasGemmEx");
  cuda_blas = api; /* the handle stays open for the process's life */
  return ST_OK;
}

extern "C" int st_cuda_cublas_check(void) {
  char msg[256];
  if (cuda_cublas_load(msg, sizeof msg)) return st_err("%s", msg);
  return ST_OK;
}
