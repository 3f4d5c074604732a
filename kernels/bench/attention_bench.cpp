// hlwq-attention-bench: one full-attention layer's decode (attention_decode: prep + split +
// combine) alone, 27B heads (24 query, 4 KV), over a cache of chosen capacity, history length
// and split count. Why next to `hlwq bench`: that tool sizes each cell's cache to its context
// (so max_splits = attention_default_splits(context + a few) follows the history), while the
// app allocates the whole context at once; here capacity and splits are free, so the two
// cases can be told apart. Cache bytes are random (fp16 values in [-1, 1], norms in [5, 15]);
// times are CUDA-graph replays of `iters` consecutive calls, us per call, median of repeats.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "attention.h"
#include "bench/bench_args.h"
#include "bench/bench_stats.h"
#include "bench/bench_timer.h"
#include "bench/tool_main.h"
#include "core/error.h"
#include "cuda_check.h"
#include "qwen35_gpu.h"

namespace hlwq::cuda {
namespace {

constexpr int kHeads = 24, kKvHeads = 4, kD = kHeadDim;

struct Options {
  std::vector<std::string> kv = {"fp16", "q4", "q3", "q2"};
  std::vector<int> history = {4096, 32768};
  int capacity = 0;    // 0: history + 16 (as `hlwq bench` sizes a cell)
  int max_splits = 0;  // 0: attention_default_splits(capacity, 4)
  int repeats = 9, iters = 20;
};

int kv_bits(const std::string& s) {
  if (s == "fp16") return 16;
  if (s == "q5" || s == "q4" || s == "q3" || s == "q2") return s[1] - '0';
  throw_error(ErrorKind::InvalidArgument, "attention bench: --kv takes fp16, q5, q4, q3, q2; got '", s, "'");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw_error(ErrorKind::InvalidArgument, "attention bench: ", a, " needs a value");
    const std::string v = argv[++i];
    auto num = [&] { return int(bench_args::to_int("attention bench", a, v)); };
    if (a == "--kv") o.kv = bench_args::split(v);
    else if (a == "--history") {
      o.history.clear();
      for (const auto& s : bench_args::split(v)) o.history.push_back(int(bench_args::to_int("attention bench", a, s)));
    } else if (a == "--capacity") o.capacity = num();
    else if (a == "--max-splits") o.max_splits = num();
    else if (a == "--repeats") o.repeats = std::max(1, num());
    else if (a == "--iters") o.iters = std::max(1, num());
    else
      throw_error(ErrorKind::InvalidArgument, "attention bench: unknown option '", a,
                  "' (--kv, --history, --capacity, --max-splits, --repeats, --iters)");
  }
  return o;
}

template <class T>
struct Buf {
  T* p = nullptr;
  explicit Buf(size_t n) { check(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)), "cudaMalloc"); }
  ~Buf() { cudaFree(p); }
  void upload(const std::vector<T>& v) { check(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "upload"); }
};

std::vector<float> uniform(size_t n, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// The first `used` slots of each KV head of one side, random (bytes of codes, or fp16 values);
// the rest of the capacity is never read.
void fill_side(const KvSide& s, int capacity, int used, std::mt19937& rng) {
  const size_t vb = kv_vector_bytes(s.bits);
  std::vector<uint8_t> bytes(used * vb);
  std::vector<__half> norms(used);
  for (int h = 0; h < kKvHeads; ++h) {
    const size_t slot0 = size_t(h) * capacity;
    if (s.bits == 16) {
      const auto f = uniform(size_t(used) * kD, -1.f, 1.f, rng);
      for (size_t i = 0; i < f.size(); ++i) reinterpret_cast<__half*>(bytes.data())[i] = __float2half(f[i]);
    } else {
      for (auto& b : bytes) b = uint8_t(rng());
      const auto n = uniform(used, 5.f, 15.f, rng);
      for (int i = 0; i < used; ++i) norms[i] = __float2half(n[i]);
      check(cudaMemcpy(s.norms + slot0, norms.data(), used * 2, cudaMemcpyHostToDevice), "upload norms");
    }
    check(cudaMemcpy(s.data + slot0 * vb, bytes.data(), bytes.size(), cudaMemcpyHostToDevice), "upload cache");
  }
}

double time_cell(int bits, int history, const Options& o, int& splits_out) {
  const int capacity = o.capacity > 0 ? o.capacity : history + 16;
  if (history >= capacity)
    throw_error(ErrorKind::InvalidArgument, "attention bench: history ", std::to_string(history),
                " does not fit capacity ", std::to_string(capacity));
  const int splits = o.max_splits > 0 ? o.max_splits : attention_default_splits(capacity, kKvHeads);
  splits_out = splits;
  std::mt19937 rng(1234 + bits + history);
  Buf<uint8_t> kst(KvLayer::side_bytes(bits, kKvHeads, capacity)), vst(KvLayer::side_bytes(bits, kKvHeads, capacity));
  const int proj_n = kHeads * 2 * kD + 2 * kKvHeads * kD;
  Buf<float> proj(proj_n), qw(kD), kw(kD), q(size_t(kHeads) * kD), out(size_t(kHeads) * kD),
      part(attention_partials_floats(kHeads, splits)), book(32);
  Buf<int> pos(1);
  proj.upload(uniform(proj_n, -2.f, 2.f, rng));
  qw.upload(uniform(kD, -0.3f, 0.3f, rng));
  kw.upload(uniform(kD, -0.3f, 0.3f, rng));
  std::vector<float> levels(32);  // any sorted levels: the time does not depend on them
  for (int i = 0; i < 32; ++i) levels[i] = 0.1f * float(i - 16);
  book.upload(levels);
  pos.upload({history});

  AttentionArgs a;
  a.proj = proj.p;
  a.q_norm_w = qw.p;
  a.k_norm_w = kw.p;
  a.k_codebook = a.v_codebook = book.p;
  a.cache.k = kv_side_in(kst.p, bits, kKvHeads, capacity);
  a.cache.v = kv_side_in(vst.p, bits, kKvHeads, capacity);
  a.cache.kv_heads = kKvHeads;
  a.cache.capacity = capacity;
  fill_side(a.cache.k, capacity, history + 1, rng);
  fill_side(a.cache.v, capacity, history + 1, rng);
  a.pos = pos.p;
  a.heads = kHeads;
  a.q_work = q.p;
  a.partials = part.p;
  a.max_splits = splits;
  a.long_context = history >= Qwen35Gpu::kLongContext;  // the model's switch to the long-context graph
  a.out = out.p;

  cudaStream_t s;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  attention_decode(a, s);  // eager first: kernel attributes are set outside the capture
  check(cudaStreamSynchronize(s), "warm-up");
  cudaGraph_t g;
  cudaGraphExec_t ge;
  check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "capture");
  for (int i = 0; i < o.iters; ++i) attention_decode(a, s);
  check(cudaStreamEndCapture(s, &g), "capture");
  check(cudaGraphInstantiate(&ge, g, 0), "instantiate");
  bench_timer::Timer timer;
  std::vector<double> us;
  for (int r = 0; r < o.repeats + 1; ++r) {  // the first replay untimed
    const double ms = timer.ms(s, 1, [&](int) { check(cudaGraphLaunch(ge, s), "cudaGraphLaunch"); });
    if (r > 0) us.push_back(1e3 * ms / o.iters);
  }
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
  cudaStreamDestroy(s);
  return bench_stats::median(us);
}

}  // namespace
}  // namespace hlwq::cuda

int main(int argc, char** argv) {
  using namespace hlwq::cuda;
  return bench_main::run_tool("hlwq-attention-bench", [&] {
    const Options o = parse(argc, argv);
    cudaDeviceProp p{};
    check(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
    std::printf("card: %s (%d SMs); attention_decode, 24 query / 4 KV heads, us per call (median of %d graphs of %d)\n",
                p.name, p.multiProcessorCount, o.repeats, o.iters);
    std::printf("%-5s %8s %9s %7s %10s\n", "kv", "history", "capacity", "splits", "us/call");
    for (const auto& kv : o.kv)
      for (int h : o.history) {
        int splits = 0;
        const double us = time_cell(kv_bits(kv), h, o, splits);
        std::printf("%-5s %8d %9d %7d %10.2f\n", kv.c_str(), h, o.capacity > 0 ? o.capacity : h + 16, splits, us);
        std::fflush(stdout);
      }
    return 0;
  });
}
