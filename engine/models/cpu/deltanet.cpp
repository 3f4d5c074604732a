#include "models/cpu/deltanet.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "models/cpu/cpu_math.h"

namespace hlwq {

void deltanet_recurrent(const DeltaNetShape& s, int n, const float* q, const float* k, const float* v, const float* g,
                        const float* beta, float* state, float* out, ThreadPool& pool) {
  const int group = s.hv / s.hk;
  const int qk_stride = s.hk * s.dk, v_stride = s.hv * s.dv;
  pool.parallel_for(s.hv, [&](int64_t h0, int64_t h1) {
    std::vector<float> kv(static_cast<size_t>(s.dv));
    for (int64_t h = h0; h < h1; ++h) {
      float* S = state + h * int64_t(s.dk) * s.dv;  // S[i][j], i over dk, j over dv
      const int kh = int(h) / group;
      for (int t = 0; t < n; ++t) {
        const float* qt = q + int64_t(t) * qk_stride + kh * s.dk;
        const float* kt = k + int64_t(t) * qk_stride + kh * s.dk;
        const float* vt = v + int64_t(t) * v_stride + h * s.dv;
        const float decay = std::exp(g[int64_t(t) * s.hv + h]);
        const float b = beta[int64_t(t) * s.hv + h];
        for (int64_t i = 0; i < int64_t(s.dk) * s.dv; ++i) S[i] *= decay;
        std::fill(kv.begin(), kv.end(), 0.0f);
        for (int i = 0; i < s.dk; ++i) cpu::axpy(kt[i], S + int64_t(i) * s.dv, kv.data(), s.dv);
        for (int j = 0; j < s.dv; ++j) kv[size_t(j)] = b * (vt[j] - kv[size_t(j)]);  // delta
        for (int i = 0; i < s.dk; ++i) cpu::axpy(kt[i], kv.data(), S + int64_t(i) * s.dv, s.dv);
        float* ot = out + int64_t(t) * v_stride + h * s.dv;
        std::fill(ot, ot + s.dv, 0.0f);
        for (int i = 0; i < s.dk; ++i) cpu::axpy(qt[i], S + int64_t(i) * s.dv, ot, s.dv);
      }
    }
  });
}

void deltanet_chunked(const DeltaNetShape& s, int n, const float* q, const float* k, const float* v, const float* g,
                      const float* beta, float* state, float* out, ThreadPool& pool, int chunk) {
  const int group = s.hv / s.hk;
  const int qk_stride = s.hk * s.dk, v_stride = s.hv * s.dv;
  const int dk = s.dk, dv = s.dv;
  pool.parallel_for(s.hv, [&](int64_t h0, int64_t h1) {
    std::vector<float> gamma(static_cast<size_t>(chunk)), A(size_t(chunk) * chunk), U(size_t(chunk) * dv), W(size_t(chunk) * dk),
        tmp(static_cast<size_t>(dv));
    for (int64_t h = h0; h < h1; ++h) {
      float* S = state + h * int64_t(dk) * dv;
      const int kh = int(h) / group;
      const auto Q = [&](int t) { return q + int64_t(t) * qk_stride + kh * dk; };
      const auto K = [&](int t) { return k + int64_t(t) * qk_stride + kh * dk; };
      const auto V = [&](int t) { return v + int64_t(t) * v_stride + h * dv; };
      for (int c0 = 0; c0 < n; c0 += chunk) {
        const int L = std::min(chunk, n - c0);
        float run = 0;
        for (int i = 0; i < L; ++i) gamma[size_t(i)] = run += g[int64_t(c0 + i) * s.hv + h];
        // A_ij = beta_i (k_i.k_j) exp(gamma_i - gamma_j), j < i (masked before exponentiating).
        for (int i = 0; i < L; ++i)
          for (int j = 0; j < i; ++j)
            A[size_t(i) * chunk + j] = beta[int64_t(c0 + i) * s.hv + h] * cpu::dot(K(c0 + i), K(c0 + j), dk) *
                                       std::exp(gamma[size_t(i)] - gamma[size_t(j)]);
        // (I + A) U = beta V and (I + A) W = beta exp(gamma) K by forward substitution.
        for (int i = 0; i < L; ++i) {
          const float bi = beta[int64_t(c0 + i) * s.hv + h];
          float* Ui = U.data() + size_t(i) * dv;
          float* Wi = W.data() + size_t(i) * dk;
          const float* vi = V(c0 + i);
          const float* ki = K(c0 + i);
          const float eg = bi * std::exp(gamma[size_t(i)]);
          for (int c = 0; c < dv; ++c) Ui[c] = bi * vi[c];
          for (int c = 0; c < dk; ++c) Wi[c] = eg * ki[c];
          for (int j = 0; j < i; ++j) {
            const float a = A[size_t(i) * chunk + j];
            cpu::axpy(-a, U.data() + size_t(j) * dv, Ui, dv);
            cpu::axpy(-a, W.data() + size_t(j) * dk, Wi, dk);
          }
        }
        // V' = U - W S (in place in U).
        for (int i = 0; i < L; ++i) {
          float* Ui = U.data() + size_t(i) * dv;
          const float* Wi = W.data() + size_t(i) * dk;
          for (int r = 0; r < dk; ++r) cpu::axpy(-Wi[r], S + int64_t(r) * dv, Ui, dv);
        }
        // O_i = exp(gamma_i) q_i S + sum_{j<=i} (q_i.k_j) exp(gamma_i - gamma_j) V'_j.
        for (int i = 0; i < L; ++i) {
          float* oi = out + int64_t(c0 + i) * v_stride + h * dv;
          const float* qi = Q(c0 + i);
          std::fill(tmp.begin(), tmp.end(), 0.0f);
          for (int r = 0; r < dk; ++r) cpu::axpy(qi[r], S + int64_t(r) * dv, tmp.data(), dv);
          const float eg = std::exp(gamma[size_t(i)]);
          for (int c = 0; c < dv; ++c) oi[c] = eg * tmp[size_t(c)];
          for (int j = 0; j <= i; ++j) {
            const float p = cpu::dot(qi, K(c0 + j), dk) * std::exp(gamma[size_t(i)] - gamma[size_t(j)]);
            cpu::axpy(p, U.data() + size_t(j) * dv, oi, dv);
          }
        }
        // S = exp(gamma_last) S + sum_j exp(gamma_last - gamma_j) k_j V'_j^T.
        const float glast = gamma[size_t(L - 1)];
        const float el = std::exp(glast);
        for (int64_t i = 0; i < int64_t(dk) * dv; ++i) S[i] *= el;
        for (int j = 0; j < L; ++j) {
          const float w = std::exp(glast - gamma[size_t(j)]);
          const float* kj = K(c0 + j);
          const float* Uj = U.data() + size_t(j) * dv;
          for (int r = 0; r < dk; ++r) cpu::axpy(w * kj[r], Uj, S + int64_t(r) * dv, dv);
        }
      }
    }
  });
}

}  // namespace hlwq
