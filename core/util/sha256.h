/* sha256.h - SHA-256 (FIPS 180-4), used to verify the shared assets
 * (assets.h). */
#ifndef ST_SHA256_H
#define ST_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_sha256_ctx {
  uint32_t h[8];
  uint64_t len; /* bytes hashed so far */
  uint8_t buf[64];
  size_t nbuf;
} st_sha256_ctx;
void st_sha256_init(st_sha256_ctx *c);
void st_sha256_update(st_sha256_ctx *c, const void *data, size_t n);
void st_sha256_final(st_sha256_ctx *c, uint8_t out[32]);
/* lowercase hex of a file's hash into hex[65] */
int st_sha256_file(const char *path, char hex[65]);

#endif
