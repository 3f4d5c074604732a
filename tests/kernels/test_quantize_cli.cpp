// `hlwq quantize --device cuda` and `--device cpu` write byte-identical model directories
// (every shard, the index, hlwq_config.json), and the cuda run really ran on the GPU.
// Skips without a GPU.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/safetensors.h"
#include "gpu_test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace hlwq;

struct Tmp {
  fs::path dir = fs::temp_directory_path() / ("hlwq-quant-cli-" + std::to_string(::getpid()));
  Tmp() { fs::create_directories(dir); }
  ~Tmp() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

DenseTensor random_tensor(const std::string& name, std::vector<int64_t> shape, DType dt, std::vector<std::byte>& keep,
                          uint64_t seed) {
  uint64_t n = 1;
  for (auto d : shape) n *= uint64_t(d);
  keep.resize(n * dtype_size(dt));
  std::mt19937_64 g(seed);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (uint64_t i = 0; i < n; ++i) {
    const float v = nd(g);
    if (dt == DType::F32) {
      std::memcpy(&keep[4 * i], &v, 4);
    } else {
      const uint16_t h = dt == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
      std::memcpy(&keep[2 * i], &h, 2);
    }
  }
  return {name, dt, std::move(shape), keep};
}

// Two shards: a 6000 x 6144 BF16 Linear (73 MB: two 64 MB chunks, several GPU slices), smaller
// BF16/F16/F32 Linears with a padded width, and dense tensors that are copied.
void write_source(const fs::path& dir) {
  fs::create_directories(dir);
  std::vector<std::byte> k[6];
  write_safetensors(dir / "model-00001-of-00002.safetensors",
                    {random_tensor("model.layers.0.mlp.up_proj.weight", {6000, 6144}, DType::BF16, k[0], 1),
                     random_tensor("model.layers.0.input_layernorm.weight", {6144}, DType::BF16, k[1], 2)});
  write_safetensors(dir / "model-00002-of-00002.safetensors",
                    {random_tensor("model.layers.1.self_attn.q_proj.weight", {515, 1000}, DType::BF16, k[2], 3),
                     random_tensor("model.layers.1.self_attn.k_proj.weight", {64, 384}, DType::F16, k[3], 4),
                     random_tensor("model.layers.1.self_attn.v_proj.weight", {33, 256}, DType::F32, k[4], 5),
                     random_tensor("model.layers.1.linear_attn.A_log", {48}, DType::F32, k[5], 6)});
  std::ofstream(dir / "config.json") << R"({"model_type": "qwen3_5_text"})" << "\n";
}

// Runs the CLI ($HLWQ_CLI, else the one built beside this test); returns its exit status,
// stdout and stderr into `out`.
int run(const std::string& args, std::string& out) {
  const char* cli = std::getenv("HLWQ_CLI");
  const std::string cmd = std::string(cli && *cli ? cli : HLWQ_CLI) + " quantize " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  out.clear();
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  return ::pclose(p);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(QuantizeCli, CudaAndCpuWriteIdenticalFiles) {
  HLWQ_REQUIRE_GPU();
  Tmp t;
  write_source(t.dir / "src");
  const char* configs[] = {"--bits 5", "--bits 3 --scale mse --codebook reference-loader", "--bits 4 --scale mse"};
  int n = 0;
  for (const char* cfg : configs) {
    const fs::path cpu = t.dir / ("cpu" + std::to_string(n)), gpu = t.dir / ("gpu" + std::to_string(n));
    ++n;
    std::string out_cpu, out_gpu;
    ASSERT_EQ(run((t.dir / "src").string() + " " + cpu.string() + " " + cfg + " --device cpu --quiet", out_cpu), 0) << out_cpu;
    ASSERT_EQ(run((t.dir / "src").string() + " " + gpu.string() + " " + cfg + " --device cuda --quiet", out_gpu), 0) << out_gpu;
    EXPECT_NE(out_cpu.find("on cpu"), std::string::npos) << out_cpu;
    EXPECT_NE(out_gpu.find("on cuda"), std::string::npos) << out_gpu;  // not a silent CPU fallback
    EXPECT_EQ(out_gpu.find("warning"), std::string::npos) << out_gpu;
    int files = 0;
    for (const auto& e : fs::directory_iterator(cpu)) {
      const auto name = e.path().filename();
      ASSERT_TRUE(fs::exists(gpu / name)) << cfg << ": " << name;
      EXPECT_TRUE(slurp(e.path()) == slurp(gpu / name)) << cfg << ": " << name << " differs";
      ++files;
    }
    EXPECT_EQ(files, int(std::distance(fs::directory_iterator(gpu), fs::directory_iterator())));
    EXPECT_GE(files, 5);  // 2 shards, index, hlwq_config.json, config.json
  }
}

}  // namespace
