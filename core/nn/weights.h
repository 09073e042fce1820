/* weights.h - where a model's weight matrices are, and the GEMMs that read
 * them whatever their storage (model.h: flat or split).
 *
 * Split storage keeps the small slots (norms, biases, GPT-2's position
 * table) in fp32, one buffer per slot. The matrix slots (QKV, ATO, FC, PRJ
 * of each layer; the token embedding and the head) are held one named
 * tensor at a time in the tensor's frozen dtype - its own allocation, or in
 * place inside a read-only file mapping when the backend addresses host
 * memory and the file has that dtype - until a trainer widens the slot:
 * then the slot has one fp32 buffer like any small slot, which AdamW
 * updates. Narrowing puts each tensor back in its frozen dtype (rounding to
 * nearest even) and frees the fp32 buffer. Frozen f32 tensors stay fp32.
 *
 * A GEMM with a frozen half-precision or mapped matrix widens it into the
 * model's scratch a block of rows at a time (4M floats; a small matrix in
 * one block, so its GEMM is the flat storage's, call for call) and calls
 * the backend's fp32 gemm on each block. Measured on this project's 2-core
 * AVX512-BF16 Xeon (OpenBLAS 0.3.21, 2 threads, other jobs running: best of
 * 3, two sittings), time against the fp32 sgemm on fp32 weights:
 *
 *   shape (M x N x K)                      widen bf16 + sgemm   bf16 GEMM
 *   Qwen2-1.5B MLP forward 512x17920x1536     0.95-1.20x         1.60x
 *   Qwen2-1.5B MLP dgrad   512x1536x17920     1.01-1.07x         1.85x
 *   Llama-8B MLP forward   256x28672x4096     1.11-1.13x         1.54x
 *   Llama-8B MLP dgrad     256x4096x28672     0.97-1.22x
 *
 * (sgemm at 27-31 GFLOP/s.) The bf16 GEMM column is torch's oneDNN bf16
 * matmul against torch's fp32 one: OpenBLAS's cblas_sbgemm, declared in
 * Debian's cblas.h, is not exported by its libopenblas 0.3.21 (built
 * without BUILD_BFLOAT16), and a bf16 GEMM with AVX512-BF16 but no AMX is
 * slower than fp32 here. Widening wins. */
#ifndef ST_WEIGHTS_H
#define ST_WEIGHTS_H

#include "model.h"

/* a matrix slot: held in its frozen dtype while frozen (split storage) */
int st_slot_is_matrix(int layer, int slot);

/* Split storage, frozen dtype `frozen` for every matrix tensor: allocates
 * the small slots (zeroed) and the GEMM scratch. The matrices hold nothing
 * until written: st_model_set, st_model_init_random, or a loader's
 * st_param_load for each tensor, before any use. */
int st_model_alloc_as(st_model *m, st_dtype frozen);
/* its part in weights.c: the small slots and the scratch (model.c adds the
 * RoPE table) */
int st_model_split(st_model *m, st_dtype frozen);
/* Re-stores every matrix tensor in `frozen` (split storage), narrowing
 * from fp32 (flat storage is freed after). Call it before a trainer is
 * made: the trainer widens what its plan trains. */
int st_model_store_as(st_model *m, st_dtype frozen);

/* The trainer's calls when a plan changes: widen gives a matrix slot one
 * fp32 buffer with its tensors' values, exactly; narrow returns each tensor
 * to its frozen dtype and frees that buffer (a slot whose tensors freeze in
 * f32 keeps it). Both are no-ops in flat storage and for small slots. */
int st_slot_widen(st_model *m, int layer, int slot);
int st_slot_narrow(st_model *m, int layer, int slot);
/* every matrix slot back to its frozen dtype, as when nothing trains (a
 * freed trainer leaves the slots it trained in fp32) */
int st_model_narrow_all(st_model *m);

/* the tensor's fp32 values on the device, NULL while it is held in half
 * precision or in place in a mapping (read-only): a trainable tensor
 * always has them */
float *st_param_f32(const st_model *m, const st_param *p);

/* A loader's write of tensor p: host values in the stored layout (Conv1D
 * already transposed) in dtype dt. in_place: src stays valid and unchanged
 * while the model lives (st_model_keep), so it is used as the storage, with
 * no copy, when the backend addresses host memory, dt is the tensor's
 * frozen dtype and src is aligned to it; otherwise it is converted into
 * the tensor's storage. */
int st_param_load(st_model *m, const st_param *p, const void *src,
                  st_dtype dt, int in_place);
/* the stored layout of p, on the host in fp32 (exact) / from the host
 * (rounded to the tensor's dtype; a mapped tensor gets its own copy) */
int st_param_read(const st_model *m, const st_param *p, float *host);
int st_param_write(st_model *m, const st_param *p, const float *host);
/* the values [at, at+n) of slot si (st_slot_index) in its flat layout,
 * from the host, rounded into half-precision tensors (random init) */
int st_slot_write(st_model *m, int si, size_t at, const float *host,
                  size_t n);
/* the same with device fp32 buffers of rows*cols floats (LoRA merge) */
int st_param_widen_to(const st_model *m, const st_param *p, float *dev);
int st_param_narrow_from(st_model *m, const st_param *p, const float *dev);

/* The model keeps p until it is freed, then calls release(p): the file
 * mappings its tensors in place point into. */
int st_model_keep(st_model *m, void *p, void (*release)(void *));

/* Device bytes the parameters hold: fp32 buffers, half-precision tensors
 * and the GEMM scratch. *mapped (may be NULL) gets the bytes of tensors
 * used in place from file mappings, which cost memory only as far as
 * their pages are touched. */
size_t st_model_bytes(const st_model *m, size_t *mapped);

/* GEMMs with the matrix of a slot, W[R,K] (stored [out, in]), on the right:
 *   transW = 1: C[M,R] = alpha A[M,K] W^T + beta C  (a linear map)
 *   transW = 0: C[M,K] = alpha A[M,R] W + beta C    (its input gradient)
 * lda and ldc are row strides. An fp32 slot goes straight to the
 * backend's gemm; otherwise W is widened into the scratch in blocks of
 * rows (see the top). */
void st_wgemm(const st_model *m, int layer, int slot, int transW, int M,
              float alpha, const float *A, int lda, float beta, float *C,
              int ldc);

#endif
