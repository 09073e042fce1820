/* sampler.h - next-token choice from logits: greedy at temperature 0, else
 * softmax(logits / temperature) sampled with a seeded generator. */
#ifndef ST_SAMPLER_H
#define ST_SAMPLER_H

#include <stdint.h>

typedef struct st_rng { uint64_t s; } st_rng;
void st_rng_seed(st_rng *r, uint64_t seed);
uint64_t st_rng_next(st_rng *r);
float st_rng_uniform(st_rng *r); /* [0,1) */

int st_sample(const float *logits, int V, float temperature, st_rng *r);

#endif
