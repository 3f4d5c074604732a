#pragma once
// The Gated DeltaNet core (qwen35.md section 4) on prepared inputs: q, k already
// L2-normalised (q also scaled by 1/sqrt(dk)), g and beta per value head. Two exact forms:
// the recurrent one for decode and the chunked WY form (chunks of 64) for prefill.
#include <cstdint>

namespace hlwq {

class ThreadPool;

struct DeltaNetShape {
  int hk = 0, hv = 0, dk = 0, dv = 0;
};

// q, k: [n, hk*dk]; v: [n, hv*dv]; g, beta: [n, hv]; state: [hv, dk, dv], updated;
// out: [n, hv*dv]. Value head h reads key/query head h / (hv / hk).
void deltanet_recurrent(const DeltaNetShape& s, int n, const float* q, const float* k, const float* v, const float* g,
                        const float* beta, float* state, float* out, ThreadPool& pool);
void deltanet_chunked(const DeltaNetShape& s, int n, const float* q, const float* k, const float* v, const float* g,
                      const float* beta, float* state, float* out, ThreadPool& pool, int chunk = 64);

}  // namespace hlwq
