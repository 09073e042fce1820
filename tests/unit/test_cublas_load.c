/* test_cublas_load.c - cuBLAS is opened at run time, not linked
 * (core/cuda/cublas_load.cu): in a CUDA build every call the backend makes
 * resolves from the library without a device; in a CPU-only build asking
 * for it is a clear error. tests/e2e/test_cpu_libs.sh checks the other
 * half: a CPU process never maps it. */
#include <string.h>

#include "backend.h"
#include "test.h"

int main(void) {
  int rc = st_cuda_cublas_check();
#ifdef STRATA_HAVE_CUDA
  CHECK_MSG(rc == ST_OK, "%s", st_errmsg());
  CHECK(st_cuda_cublas_check() == ST_OK); /* a second call: already open */
#else
  CHECK(rc == ST_ERR);
  CHECK(strstr(st_errmsg(), "without the CUDA backend") != NULL);
#endif
  return st_test_failures ? 1 : 0;
}
