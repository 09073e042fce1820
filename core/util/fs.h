/* fs.h - the file-system helpers the library shares: one path length,
 * creating folders, and writing a file under a temporary name that is
 * renamed into place, so a crash or a failed write never leaves a
 * half-written file where a reader looks (the old file stays intact). */
#ifndef ST_FS_H
#define ST_FS_H

#include <stddef.h>
#include <stdio.h>

/* the size of a path buffer, terminating NUL included (realpath(3) alone
 * sizes its result with the system's PATH_MAX, as it requires) */
#define ST_PATH_MAX 4096

/* out[n] = "<dir>/<name>"; ST_ERR + a message when it does not fit */
int st_path_join(char *out, size_t n, const char *dir, const char *name);
/* out[n] = printf(fmt, ...) for a path built of several parts; ST_ERR + a
 * message when it does not fit, instead of a silently cut path */
int st_pathf(char *out, size_t n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* mkdir -p (mode 0777 less the umask, as mkdir(1)): creates path and any missing parents. ST_OK, or
 * ST_ERR + a message naming the folder that could not be created. */
int st_mkdirs(const char *path);
/* the folders up to a file path's last '/' (none when it has no '/') */
int st_mkdirs_parent(const char *file);

/* "<path>.<pid>.tmp" into tmp[n]: a name beside path that no other process
 * writing the same path uses (sweeps run in parallel). ST_ERR when too long. */
int st_tmp_path(char *tmp, size_t n, const char *path);
/* Renames the finished file tmp over path. On failure removes tmp, leaves
 * path as it was and returns ST_ERR naming path. */
int st_replace(const char *tmp, const char *path);

/* Writing a file atomically:
 *   st_atomic a;
 *   FILE *f = st_atomic_open(&a, path);
 *   if (!f) return ST_ERR;
 *   ... fwrite / fprintf / json_dumpf to f ...
 *   return st_atomic_commit(&a);   (or st_atomic_abort(&a) to give up) */
typedef struct st_atomic {
  FILE *f;
  char path[ST_PATH_MAX];
  char tmp[ST_PATH_MAX];
} st_atomic;
/* Opens the temporary file st_tmp_path(path) for writing; NULL + a message
 * naming path when it cannot. */
FILE *st_atomic_open(st_atomic *a, const char *path);
/* Flushes and fsyncs the stream, closes it, renames the file into place and
 * fsyncs the folder, so the new file survives a crash whole. A write error
 * on the stream, a failed sync, close or rename removes the temporary file,
 * leaves path as it was and returns ST_ERR naming path. */
int st_atomic_commit(st_atomic *a);
/* closes and removes the temporary file; path is untouched */
void st_atomic_abort(st_atomic *a);
/* data[0..n) to path, atomically as above */
int st_write_file_atomic(const char *path, const void *data, size_t n);

#endif
