/* backend.c - picking a backend by name. */
#include <string.h>

#include "backend.h"
#include "error.h"

const st_backend *st_backend_get(const char *name) {
  if (!name) {
    st_err("backend: no name given (expected cpu or cuda)");
    return NULL;
  }
  if (!strcmp(name, "cpu"))
    return st_backend_cpu();
  if (!strcmp(name, "cuda"))
    return st_backend_cuda(); /* sets st_err */
  st_err("backend: unknown backend '%s' (expected cpu or cuda)", name);
  return NULL;
}

#ifndef STRATA_HAVE_CUDA
/* Without the CUDA helper compiled in, asking for it is a user error. */
const st_backend *st_backend_cuda(void) {
  st_err("strata was built without the CUDA backend");
  return NULL;
}
int st_cuda_cublas_check(void) {
  return st_err("strata was built without the CUDA backend");
}
#endif
