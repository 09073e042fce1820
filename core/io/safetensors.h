/* safetensors.h - read and write the safetensors format.
 *
 * File layout: u64 little-endian N, then an N-byte JSON header
 *   {"__metadata__":{...}, "name":{"dtype":"F32","shape":[..],
 *    "data_offsets":[begin,end]}, ...}
 * then the data section; offsets are relative to it and the tensors tile it
 * exactly (no gap, no overlap).
 *
 * Reading accepts F32, F16, BF16 (converted to f32) and I32. Writing emits
 * all four (F16/BF16 narrowed from floats, rounding to nearest even) and is
 * byte-identical to Python's
 * safetensors.torch.save_file(t, f, metadata={"format": "pt"}): tensors are
 * ordered by dtype (F32, I32, BF16, F16) then by name, the header is compact
 * JSON padded with spaces to a multiple of 8. Used for HF models,
 * checkpoints, LoRA adapters and test fixtures. */
#ifndef ST_SAFETENSORS_H
#define ST_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "fs.h"

typedef enum { ST_SFT_F32, ST_SFT_F16, ST_SFT_BF16, ST_SFT_I32 } st_sft_dtype;
#define ST_SFT_MAXDIM 8

typedef struct st_sft_tensor {
  char *name;
  st_sft_dtype dtype;
  int ndim;
  int64_t shape[ST_SFT_MAXDIM];
  size_t numel;
  size_t begin, end; /* byte range in the data section */
} st_sft_tensor;

typedef struct st_sft {
  char path[ST_PATH_MAX];
  int n;            /* tensors, in header order */
  st_sft_tensor *t;
  int n_meta;       /* "__metadata__" string pairs */
  char **meta_key, **meta_val;
  const uint8_t *data; /* data section (mapped) */
  size_t data_len;
  void *map;
  size_t map_len;
} st_sft;

/* Maps and validates the file; every error names the file and, where it
 * applies, the tensor. */
int st_sft_open(st_sft **out, const char *path);
void st_sft_close(st_sft *f);
const st_sft_tensor *st_sft_find(const st_sft *f, const char *name);
const char *st_sft_meta(const st_sft *f, const char *key); /* NULL if absent */
/* Converts to f32 (F32/F16/BF16); n must equal the tensor's numel. */
int st_sft_read_f32(const st_sft *f, const st_sft_tensor *t, float *dst,
                    size_t n);
int st_sft_read_i32(const st_sft *f, const st_sft_tensor *t, int32_t *dst,
                    size_t n);

typedef struct st_sft_entry {
  const char *name;
  st_sft_dtype dtype; /* F32, I32; F16 and BF16 with float data */
  int ndim;           /* 0 = scalar */
  int64_t shape[ST_SFT_MAXDIM];
  const void *data;   /* host, numel elements */
} st_sft_entry;

/* Writes a temporary file and renames it to path (fs.h). meta: n_meta
 * extra key/value string pairs stored after {"format":"pt"} in
 * "__metadata__". */
int st_sft_write(const char *path, const st_sft_entry *e, int n,
                 const char *const *meta_key, const char *const *meta_val,
                 int n_meta);

/* half-precision conversions (exposed for tests) */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);
uint16_t st_f32_to_f16(float f);
uint16_t st_f32_to_bf16(float f);

#endif
