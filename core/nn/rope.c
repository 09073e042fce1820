/* rope.c - the per-pair inverse frequencies of the RoPE variants, computed
 * once per model the way transformers' ROPE_INIT_FUNCTIONS
 * (modeling_rope_utils.py) compute them: in float32, step by step, with
 * Python scalars rounded to float where torch rounds them, so the table
 * matches transformers' inv_freq and long positions agree with it.
 *
 * torch evaluates `scalar / tensor` as reciprocal(tensor) * scalar; the
 * comments below name the Python expression each line mirrors. */
#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "model.h"

/* 1.0 / (base ** (arange(0, dim, 2).float() / dim)) */
static float plain(float base, int i, int dim) {
  return 1.0f / powf(base, (float)(2 * i) / (float)dim);
}

/* _compute_llama3_parameters */
static float llama3(const st_config *c, int i, int dim) {
  float inv = plain(c->rope_theta, i, dim), factor = c->rope_factor;
  double old = c->rope_orig_max, lo = c->rope_low_freq, hi = c->rope_high_freq;
  float low_wl = (float)(old / lo), high_wl = (float)(old / hi);
  float wl = (1.0f / inv) * (float)(2 * M_PI); /* 2 * math.pi / inv_freq */
  float llama = wl > low_wl ? inv / factor : inv;
  /* (old / wavelen - low) / (high - low) */
  float smooth = ((1.0f / wl) * (float)old - (float)lo) / (float)(hi - lo);
  float smoothed = (1.0f - smooth) * llama / factor + smooth * llama;
  int medium = !(wl < high_wl) && !(wl > low_wl);
  return medium ? smoothed : llama;
}

/* find_correction_dim */
static double correction_dim(double rot, int dim, double base, double maxpos) {
  return (dim * log(maxpos / (rot * 2 * M_PI))) / (2 * log(base));
}

/* _compute_yarn_parameters */
static void yarn(const st_config *c, float *freq, int dim) {
  double base = c->rope_theta;
  double lo = correction_dim(c->rope_beta_fast, dim, base, c->rope_orig_max);
  double hi = correction_dim(c->rope_beta_slow, dim, base, c->rope_orig_max);
  if (c->rope_truncate) {
    lo = floor(lo);
    hi = ceil(hi);
  }
  if (lo < 0) lo = 0;
  if (hi > dim - 1) hi = dim - 1;
  if (lo == hi) hi += 0.001; /* linear_ramp_factor's guard */
  for (int i = 0; i < dim / 2; i++) {
    float pos = powf((float)base, (float)(2 * i) / (float)dim);
    float extra = 1.0f / pos, interp = 1.0f / (c->rope_factor * pos);
    float ramp = ((float)i - (float)lo) / (float)(hi - lo);
    ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
    float ef = 1.0f - ramp; /* inv_freq_extrapolation_factor */
    freq[i] = interp * (1.0f - ef) + extra * ef;
  }
}

void st_rope_freqs(const st_config *c, float *freq, float *scale) {
  int dim = c->head_dim;
  *scale = 1.0f;
  switch (c->rope_type) {
  case ST_ROPE_YARN:
    yarn(c, freq, dim);
    *scale = c->rope_attn_factor > 0 ? c->rope_attn_factor : 1.0f;
    return;
  case ST_ROPE_LLAMA3:
    for (int i = 0; i < dim / 2; i++) freq[i] = llama3(c, i, dim);
    return;
  case ST_ROPE_LINEAR:
    for (int i = 0; i < dim / 2; i++)
      freq[i] = plain(c->rope_theta, i, dim) / c->rope_factor;
    return;
  case ST_ROPE_DEFAULT:
    break;
  }
  for (int i = 0; i < dim / 2; i++) freq[i] = plain(c->rope_theta, i, dim);
}

int st_rope_validate(const st_config *c) {
  static const char *names[] = {"default", "linear", "llama3", "yarn"};
  if ((int)c->rope_type < ST_ROPE_DEFAULT || c->rope_type > ST_ROPE_YARN)
    return st_err("config: unknown rope_type %d", (int)c->rope_type);
  const char *t = names[c->rope_type];
  if (c->rope_type != ST_ROPE_DEFAULT &&
      !(c->rope_factor > 0 && isfinite(c->rope_factor)))
    return st_err("config: rope %s factor = %g, expected > 0", t, c->rope_factor);
  if ((c->rope_type == ST_ROPE_LLAMA3 || c->rope_type == ST_ROPE_YARN) &&
      c->rope_orig_max < 1)
    return st_err("config: rope %s original_max_position_embeddings = %d, "
                  "expected >= 1", t, c->rope_orig_max);
  if (c->rope_type == ST_ROPE_LLAMA3 &&
      !(c->rope_low_freq > 0 && c->rope_high_freq > c->rope_low_freq &&
        isfinite(c->rope_high_freq)))
    return st_err("config: rope llama3 low_freq_factor %g, high_freq_factor "
                  "%g: expected 0 < low < high", c->rope_low_freq,
                  c->rope_high_freq);
  if (c->rope_type == ST_ROPE_YARN &&
      !(isfinite(c->rope_beta_fast) && isfinite(c->rope_beta_slow) &&
        c->rope_attn_factor > 0 && isfinite(c->rope_attn_factor)))
    return st_err("config: rope yarn beta_fast %g, beta_slow %g, "
                  "attention_factor %g: expected finite, attention_factor > 0",
                  c->rope_beta_fast, c->rope_beta_slow, c->rope_attn_factor);
  size_t half = (size_t)c->head_dim / 2;
  float *f = st_malloc((half ? half : 1) * sizeof *f), s;
  if (!f) return ST_ERR;
  st_rope_freqs(c, f, &s);
  int bad = -1;
  for (size_t i = 0; i < half && bad < 0; i++)
    if (!(f[i] > 0 && isfinite(f[i]))) bad = (int)i;
  float fb = bad >= 0 ? f[bad] : 0;
  free(f);
  if (bad >= 0)
    return st_err("config: rope %s gives frequency %g for pair %d (theta %g)",
                  t, fb, bad, c->rope_theta);
  return ST_OK;
}
