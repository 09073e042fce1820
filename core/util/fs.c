/* fs.c - folders and atomic file writes (see fs.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"

int st_path_join(char *out, size_t n, const char *dir, const char *name) {
  int r = snprintf(out, n, "%s/%s", dir, name);
  if (r < 0 || (size_t)r >= n) return st_err("%s/%s: path too long", dir, name);
  return ST_OK;
}

int st_pathf(char *out, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(out, n, fmt, ap);
  va_end(ap);
  if (r < 0 || (size_t)r >= n) return st_err("%.80s...: path too long", out);
  return ST_OK;
}

int st_mkdirs(const char *path) {
  char p[ST_PATH_MAX];
  size_t n = strlen(path);
  if (!n) return st_err("cannot create a folder with an empty name");
  if (n >= sizeof p) return st_err("%.80s...: path too long", path);
  memcpy(p, path, n + 1);
  for (char *s = p + 1;; s++) {
    if (*s && *s != '/') continue;
    char c = *s;
    *s = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
      return st_err("%s: cannot create folder: %s", p, strerror(errno));
    if (!(*s = c)) break;
  }
  struct stat st;
  if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
    return st_err("%s: cannot create folder: a file of that name exists", p);
  return ST_OK;
}

int st_mkdirs_parent(const char *file) {
  char p[ST_PATH_MAX];
  if ((size_t)snprintf(p, sizeof p, "%s", file) >= sizeof p)
    return st_err("%.80s...: path too long", file);
  char *slash = strrchr(p, '/');
  if (!slash || slash == p) return ST_OK; /* the working folder or / */
  *slash = 0;
  return st_mkdirs(p);
}

int st_tmp_path(char *tmp, size_t n, const char *path) {
  int r = snprintf(tmp, n, "%s.%ld.tmp", path, (long)getpid());
  if (r < 0 || (size_t)r >= n) return st_err("%.80s...: path too long", path);
  return ST_OK;
}

int st_replace(const char *tmp, const char *path) {
  if (rename(tmp, path) == 0) return ST_OK;
  int e = errno;
  remove(tmp);
  return st_err("%s: cannot write: %s", path, strerror(e));
}

FILE *st_atomic_open(st_atomic *a, const char *path) {
  a->f = NULL;
  a->tmp[0] = 0;
  if ((size_t)snprintf(a->path, sizeof a->path, "%s", path) >= sizeof a->path) {
    st_err("%.80s...: path too long", path);
    return NULL;
  }
  if (st_tmp_path(a->tmp, sizeof a->tmp, path)) return NULL;
  a->f = fopen(a->tmp, "wb");
  if (!a->f) st_err("%s: cannot write: %s", path, strerror(errno));
  return a->f;
}

/* the folder holding path, synced so a rename into it survives a crash;
 * file systems that cannot sync a folder (EINVAL) are taken as they are */
static int sync_parent(const char *path) {
  char dir[ST_PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (st_pathf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path))
    return ST_ERR;
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return st_err("%s: cannot open to sync: %s", dir, strerror(errno));
  int rc = fsync(fd) == 0 || errno == EINVAL ? ST_OK
                                              : st_err("%s: cannot sync: %s", dir, strerror(errno));
  close(fd);
  return rc;
}

int st_atomic_commit(st_atomic *a) {
  if (!a->f) return st_err("%s: not open for writing", a->path);
  /* the data reaches the disk before the rename makes it the file, so a
   * crash leaves the old file or the new one, never a torn one */
  int bad = ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0;
  int e = bad ? errno : 0;
  if (fclose(a->f) != 0 && !bad) {
    bad = 1;
    e = errno;
  }
  a->f = NULL;
  if (bad) {
    remove(a->tmp);
    return st_err("%s: cannot write: %s", a->path,
                  e ? strerror(e) : "write error");
  }
  if (st_replace(a->tmp, a->path)) return ST_ERR;
  return sync_parent(a->path);
}

void st_atomic_abort(st_atomic *a) {
  if (!a->f) return;
  fclose(a->f);
  a->f = NULL;
  remove(a->tmp);
}

int st_write_file_atomic(const char *path, const void *data, size_t n) {
  st_atomic a;
  FILE *f = st_atomic_open(&a, path);
  if (!f) return ST_ERR;
  if (n && fwrite(data, 1, n, f) != n) {
    int e = errno;
    st_atomic_abort(&a);
    return st_err("%s: cannot write: %s", path, strerror(e));
  }
  return st_atomic_commit(&a);
}
