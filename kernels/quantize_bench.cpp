// hlwq-quantize-bench: quantizer throughput in GB/s of BF16 input, and the synthetic checkpoint
// the end-to-end `hlwq quantize` measurement reads.
//   hlwq-quantize-bench write DIR [--layers N]   BF16 checkpoint with Qwen3.5-27B layer shapes
//                                                 (even layers DeltaNet, odd attention), one shard
//                                                 per layer, random N(0, 0.02)-like weights
//   hlwq-quantize-bench kernel [--repeats N] [--threads N] [--json FILE]
//       on one 17408 x 5120 BF16 tensor (an MLP gate/up): the kernel alone on device data, the
//       GPU BlockQuantizer from host memory, the CPU BlockQuantizer on every core, plus the
//       device-to-device and pinned host-to-device copy bandwidth of the same run; checks that
//       GPU and CPU bytes agree.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "cuda_check.h"
#include "formats/block_quantizer.h"
#include "formats/safetensors.h"
#include "quantize_cuda.h"
#include "quantize_hlwq.h"
#include "bench/bench_stats.h"

namespace fs = std::filesystem;
using namespace hlwq;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

using hlwq::cuda::bench_stats::median;

// Seeded, parallel: value depends only on (seed, index). Sum of four uniforms, scaled to
// standard deviation ~0.02 (a trained Linear's typical spread).
void fill_bf16(uint16_t* out, uint64_t n, uint64_t seed, ThreadPool& pool) {
  pool.parallel_for(int64_t((n + 4095) / 4096), [&](int64_t a, int64_t b) {
    for (int64_t blk = a; blk < b; ++blk) {
      uint64_t s = seed * 0x9e3779b97f4a7c15ull + uint64_t(blk) * 0xbf58476d1ce4e5b9ull + 1;
      const uint64_t lo = uint64_t(blk) * 4096, hi = std::min(n, lo + 4096);
      for (uint64_t i = lo; i < hi; ++i) {
        float acc = 0;
        for (int k = 0; k < 4; ++k) {
          s ^= s << 13;
          s ^= s >> 7;
          s ^= s << 17;
          acc += float(s >> 40) * (1.0f / 16777216.0f);
        }
        out[i] = f32_to_bf16((acc - 2.0f) * 0.0346f);  // var of the sum is 4/12
      }
    }
  });
}

struct Shape {
  std::string name;
  std::vector<int64_t> shape;
};

std::vector<Shape> layer_shapes(int i) {
  const std::string p = "model.language_model.layers." + std::to_string(i) + ".";
  std::vector<Shape> s = {{p + "input_layernorm.weight", {5120}}, {p + "post_attention_layernorm.weight", {5120}}};
  if (i % 2 == 0) {
    const std::string a = p + "linear_attn.";
    s.insert(s.end(), {{a + "in_proj_qkv.weight", {10240, 5120}},
                       {a + "in_proj_z.weight", {6144, 5120}},
                       {a + "in_proj_a.weight", {48, 5120}},
                       {a + "in_proj_b.weight", {48, 5120}},
                       {a + "conv1d.weight", {10240, 1, 4}},
                       {a + "A_log", {48}},
                       {a + "dt_bias", {48}},
                       {a + "norm.weight", {128}},
                       {a + "out_proj.weight", {5120, 6144}}});
  } else {
    const std::string a = p + "self_attn.";
    s.insert(s.end(), {{a + "q_proj.weight", {12288, 5120}},
                       {a + "k_proj.weight", {1024, 5120}},
                       {a + "v_proj.weight", {1024, 5120}},
                       {a + "q_norm.weight", {256}},
                       {a + "k_norm.weight", {256}},
                       {a + "o_proj.weight", {5120, 6144}}});
  }
  s.insert(s.end(), {{p + "mlp.gate_proj.weight", {17408, 5120}},
                     {p + "mlp.up_proj.weight", {17408, 5120}},
                     {p + "mlp.down_proj.weight", {5120, 17408}}});
  return s;
}

int write_checkpoint(const fs::path& dir, int layers) {
  ThreadPool pool;
  fs::create_directories(dir);
  uint64_t total = 0, seed = 1;
  const double t0 = now();
  for (int i = 0; i < layers; ++i) {
    char file[64];
    std::snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", i + 1, layers);
    const auto shapes = layer_shapes(i);
    std::vector<TensorSpec> specs;
    for (const auto& s : shapes) specs.push_back({s.name, DType::BF16, s.shape});
    SafetensorsWriter out(dir / file, specs, {{"format", "pt"}});
    std::vector<uint16_t> buf;
    for (const auto& spec : specs) {
      const uint64_t n = spec.bytes() / 2;
      buf.resize(n);
      fill_bf16(buf.data(), n, seed++, pool);
      out.write(std::as_bytes(std::span(buf)));
      total += spec.bytes();
    }
    out.finish();
  }
  std::ofstream(dir / "config.json") << R"({"model_type": "qwen3_5_text", "hidden_size": 5120, "synthetic": true})" << "\n";
  std::printf("wrote %d layers, %.3f GB BF16, to %s in %.1f s\n", layers, total / 1e9, dir.c_str(), now() - t0);
  return 0;
}

int kernel_bench(int repeats, int threads, const std::string& json_path) {
  cuda::require_device();
  ThreadPool pool(threads);
  const int64_t rows = 17408, cols = 5120, nb = cols / 128;
  const uint64_t n = uint64_t(rows) * cols, in_bytes = n * 2;
  std::vector<uint16_t> host(n);
  fill_bf16(host.data(), n, 42, pool);
  cudaDeviceProp prop{};
  HLWQ_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));

  void* dev_in = nullptr;
  void* dev_copy = nullptr;
  uint8_t* dev_packed = nullptr;
  uint16_t* dev_scales = nullptr;
  void* pinned = nullptr;
  HLWQ_CUDA_CHECK(cudaMalloc(&dev_in, in_bytes));
  HLWQ_CUDA_CHECK(cudaMalloc(&dev_copy, in_bytes));
  HLWQ_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&dev_packed), uint64_t(rows) * nb * 80));
  HLWQ_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&dev_scales), uint64_t(rows) * nb * 2));
  HLWQ_CUDA_CHECK(cudaHostAlloc(&pinned, in_bytes, cudaHostAllocDefault));
  std::memcpy(pinned, host.data(), in_bytes);
  HLWQ_CUDA_CHECK(cudaMemcpy(dev_in, host.data(), in_bytes, cudaMemcpyHostToDevice));
  cudaEvent_t e0, e1;
  HLWQ_CUDA_CHECK(cudaEventCreate(&e0));
  HLWQ_CUDA_CHECK(cudaEventCreate(&e1));
  auto time_gpu = [&](auto&& fn) {
    std::vector<double> ms;
    fn();
    fn();
    for (int r = 0; r < repeats; ++r) {
      HLWQ_CUDA_CHECK(cudaEventRecord(e0));
      fn();
      HLWQ_CUDA_CHECK(cudaEventRecord(e1));
      HLWQ_CUDA_CHECK(cudaEventSynchronize(e1));
      float t = 0;
      HLWQ_CUDA_CHECK(cudaEventElapsedTime(&t, e0, e1));
      ms.push_back(t);
    }
    return median(ms);
  };
  nlohmann::json j;
  j["card"] = prop.name;
  j["tensor"] = {rows, cols};
  j["input_bytes"] = in_bytes;
  j["repeats"] = repeats;
  const double d2d = time_gpu([&] { HLWQ_CUDA_CHECK(cudaMemcpyAsync(dev_copy, dev_in, in_bytes, cudaMemcpyDeviceToDevice)); });
  const double h2d = time_gpu([&] { HLWQ_CUDA_CHECK(cudaMemcpyAsync(dev_copy, pinned, in_bytes, cudaMemcpyHostToDevice)); });
  j["copy_d2d_GBps_read_plus_write"] = 2 * in_bytes / d2d / 1e6;
  j["copy_h2d_pinned_GBps"] = in_bytes / h2d / 1e6;
  std::printf("card %s; tensor %lld x %lld BF16 (%.1f MB); median of %d\n", prop.name, (long long)rows, (long long)cols,
              in_bytes / 1e6, repeats);
  std::printf("copy: device-to-device %.0f GB/s (read+write), pinned host-to-device %.1f GB/s\n",
              j["copy_d2d_GBps_read_plus_write"].get<double>(), j["copy_h2d_pinned_GBps"].get<double>());

  const auto book = [](int bits) {
    const auto t = codebook_table(Codebook::Converged, bits);
    return std::vector<float>(t.begin(), t.end());
  };
  bool all_equal = true;
  for (int bits : {5, 4, 3}) {
    for (ScaleKind scale : {ScaleKind::Norm, ScaleKind::Mse}) {
      const std::string tag = "q" + std::to_string(bits) + (scale == ScaleKind::Mse ? "-mse" : "-norm");
      BlockQuantizeSpec spec{bits, book(bits), scale};
      const auto p = cuda::make_quantize_params(bits, spec.centroids.data(), int(spec.centroids.size()), scale == ScaleKind::Mse);
      const double k_ms = time_gpu([&] {
        cuda::quantize_hlwq(dev_in, cuda::QuantSource::BF16, rows, cols, p, dev_packed, dev_scales, nullptr);
      });
      const uint64_t out_row = packed_row_bytes(bits, cols);
      std::vector<uint8_t> gpu_packed(rows * out_row), cpu_packed(rows * out_row);
      std::vector<uint16_t> gpu_scales(rows * nb), cpu_scales(rows * nb);
      const RowChunk gchunk{reinterpret_cast<const std::byte*>(host.data()), DType::BF16, rows, cols, gpu_packed.data(), gpu_scales.data()};
      const RowChunk cchunk{gchunk.src, DType::BF16, rows, cols, cpu_packed.data(), cpu_scales.data()};
      auto gpu = cuda::make_cuda_block_quantizer(spec, pool);
      auto cpu = make_cpu_block_quantizer(spec, pool);
      std::vector<double> g_s, c_s;
      gpu->quantize(gchunk);  // warm-up: pinned buffers
      for (int r = 0; r < std::max(3, repeats / 3); ++r) {
        double t = now();
        gpu->quantize(gchunk);
        g_s.push_back(now() - t);
        t = now();
        cpu->quantize(cchunk);
        c_s.push_back(now() - t);
      }
      const bool equal = gpu_packed == cpu_packed && gpu_scales == cpu_scales;
      all_equal &= equal;
      const double kernel_gbps = in_bytes / k_ms / 1e6, gpu_gbps = in_bytes / median(g_s) / 1e9,
                   cpu_gbps = in_bytes / median(c_s) / 1e9;
      j["results"][tag] = {{"kernel_ms", k_ms},
                           {"kernel_GBps", kernel_gbps},
                           {"gpu_from_host_GBps", gpu_gbps},
                           {"cpu_GBps", cpu_gbps},
                           {"cpu_threads", pool.size()},
                           {"gpu_equals_cpu", equal}};
      std::printf("%-8s kernel %.3f ms = %6.1f GB/s | GPU quantizer from host memory %5.2f GB/s | CPU %d threads %5.3f GB/s | bytes %s\n",
                  tag.c_str(), k_ms, kernel_gbps, gpu_gbps, pool.size(), cpu_gbps, equal ? "identical" : "DIFFER");
    }
  }
  j["gpu_equals_cpu"] = all_equal;
  if (!json_path.empty()) std::ofstream(json_path) << j.dump(2) << "\n";
  cudaFree(dev_in);
  cudaFree(dev_copy);
  cudaFree(dev_packed);
  cudaFree(dev_scales);
  cudaFreeHost(pinned);
  return all_equal ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> a(argv + 1, argv + argc);
    auto opt = [&](const std::string& name, const std::string& fallback) {
      for (size_t i = 0; i + 1 < a.size(); ++i)
        if (a[i] == name) return a[i + 1];
      return fallback;
    };
    if (a.size() >= 2 && a[0] == "write") return write_checkpoint(a[1], std::stoi(opt("--layers", "2")));
    if (!a.empty() && a[0] == "kernel")
      return kernel_bench(std::stoi(opt("--repeats", "10")), std::stoi(opt("--threads", "0")), opt("--json", ""));
    std::fprintf(stderr, "usage: hlwq-quantize-bench write DIR [--layers N] | kernel [--repeats N] [--threads N] [--json FILE]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
