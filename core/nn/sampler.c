/* sampler.c - splitmix64 generator and the token sampler. */
#include <math.h>
#include <stdlib.h>

#include "sampler.h"

void st_rng_seed(st_rng *r, uint64_t seed) { r->s = seed; }

uint64_t st_rng_next(st_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float st_rng_uniform(st_rng *r) { return (st_rng_next(r) >> 40) / 16777216.0f; }

int st_sample(const float *logits, int V, float temperature, st_rng *r) {
  int best = 0;
  for (int i = 1; i < V; i++)
    if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  double z = 0;
  for (int i = 0; i < V; i++) z += exp((logits[i] - logits[best]) / temperature);
  double u = st_rng_uniform(r) * z, acc = 0;
  for (int i = 0; i < V; i++) {
    acc += exp((logits[i] - logits[best]) / temperature);
    if (u < acc) return i;
  }
  return best;
}
