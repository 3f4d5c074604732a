// The GPU quantizer's device memory is the planner's quantize arena (planner/vram_plan.h,
// docs/FIT.md): without a GPU, the arena's layout written out by hand, the pieces a chunk is cut
// into (every block once, each piece within a slot) and the plan's quantize-time requirement;
// on a GPU, the quantizer allocates exactly the arena's device bytes once, nothing while it
// works, gives them back, and a row longer than a slot (quantized in pieces) gives the CPU's bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "device_arenas.h"
#include "formats/block_quantizer.h"
#include "gpu_test_util.h"
#include "quantize_cuda.h"
#include "quantize_pieces.h"
#include "qwen35_plan.h"

namespace hlwq::cuda {
namespace {

using planner::Arena;
using planner::ArenaId;
using planner::kMiB;

constexpr uint64_t kSlotIn = 16 * kMiB;
// 16 MiB of BF16 is 65,536 blocks of 128; at 5 bits each is 80 bytes of codes + a 2-byte scale.
constexpr uint64_t kSlotOut = 65536 * 82;

TEST(ArenaCarver, TheQuantizeArenaIsTwoSlotsOfSixteenMiB) {
  const Arena a = planner::quantize_arena();
  EXPECT_EQ(a.id, ArenaId::Quantize);
  EXPECT_STREQ(planner::to_string(a.id), "quantize");
  ASSERT_EQ(a.buffers.size(), 4u);
  EXPECT_EQ(a.at("slot0_in").bytes, kSlotIn);
  EXPECT_EQ(a.at("slot0_out").bytes, kSlotOut);
  EXPECT_EQ(a.at("slot1_in").bytes, kSlotIn);
  EXPECT_EQ(a.at("slot1_out").bytes, kSlotOut);
  EXPECT_EQ(a.bytes, 2 * (kSlotIn + kSlotOut));  // 5,373,952 is a multiple of 256: no gaps
  EXPECT_EQ(a.device_bytes(), 44 * kMiB);         // 42.25 MiB in 2 MiB pages
  const ArenaCarver c(a, reinterpret_cast<void*>(uintptr_t(1) << 40), a.device_bytes());
  EXPECT_EQ(c.named("slot1_out").get<std::byte>() - c.named("slot0_in").get<std::byte>(),
            std::ptrdiff_t(2 * kSlotIn + kSlotOut));
}

// Every block of the chunk in exactly one piece, in order, and every piece within a slot.
void check_pieces(int64_t rows, int64_t cols, int vb, int bits) {
  SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols) + " of " + std::to_string(vb) + " bytes, q" +
               std::to_string(bits));
  const int64_t nb = (cols + 127) / 128;
  const auto pieces = quantize_pieces(rows, cols, vb, bits, kSlotIn, kSlotOut);
  int64_t row = 0, block = 0;
  uint64_t in_sum = 0;
  for (const QuantizePiece& p : pieces) {
    ASSERT_EQ(p.row0, row);
    ASSERT_EQ(p.block0, block);
    ASSERT_GE(p.rows, 1);
    ASSERT_GE(p.blocks, 1);
    ASSERT_LE(p.in_bytes(cols, vb), kSlotIn);
    ASSERT_LE(p.out_bytes(bits), kSlotOut);
    if (p.blocks != nb) ASSERT_EQ(p.rows, 1) << "a part of a row is one row";
    ASSERT_LE(p.block0 + p.blocks, nb);
    in_sum += p.in_bytes(cols, vb);
    block += p.blocks;
    if (block == nb) {
      row += p.rows;
      block = 0;
    }
  }
  EXPECT_EQ(row, rows);
  EXPECT_EQ(block, 0);
  EXPECT_EQ(in_sum, uint64_t(rows) * uint64_t(cols) * uint64_t(vb)) << "every source byte read once";
}

TEST(ArenaCarver, QuantizerPiecesFitTheSlotsAndCoverEveryBlockOnce) {
  for (int bits = 2; bits <= 5; ++bits)
    for (int vb : {2, 4})
      for (int64_t cols : {int64_t(1), int64_t(127), int64_t(128), int64_t(200), int64_t(5120), int64_t(17408),
                           int64_t(248320), int64_t(8388608), int64_t(8388609), int64_t(20000000)})
        for (int64_t rows : {int64_t(1), int64_t(3), int64_t(5000)}) {
          if (rows * cols > int64_t(1) << 31) continue;  // (the chunks are 64 MiB of source)
          check_pieces(rows, cols, vb, bits);
        }
}

TEST(ArenaCarver, QuantizerPiecesOfTheModelsShapes) {
  // A 27B BF16 Linear of 5120 columns: 16 MiB / 10,240 bytes = 1,638 whole rows a piece.
  const auto p = quantize_pieces(16480, 5120, 2, 5, kSlotIn, kSlotOut);
  ASSERT_EQ(p.size(), 11u);  // ceil(16480 / 1638)
  EXPECT_EQ(p[0].rows, 1638);
  EXPECT_EQ(p[0].blocks, 40);
  EXPECT_EQ(p.back().rows, 16480 - 10 * 1638);
  // A row of 20,000,000 BF16 values (40 MB) in pieces of 65,536 blocks: 156,250 blocks -> 3 pieces.
  const auto q = quantize_pieces(1, 20000000, 2, 5, kSlotIn, kSlotOut);
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0].blocks, 65536);
  EXPECT_EQ(q[2].block0, 131072);
  EXPECT_EQ(q[2].blocks, 156250 - 131072);
  EXPECT_EQ(q[2].cols(20000000), 20000000 - 131072 * 128);
}

TEST(ArenaCarver, ASlotThatCannotHoldOneBlockIsInternal) {
  try {
    quantize_pieces(4, 256, 2, 5, 255, kSlotOut);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal) << e.what();
  }
}

planner::Plan source_plan(const std::string& size, bool prequantized, uint64_t free_bytes) {
  planner::PlanOptions o;
  o.context_length = 4096;
  o.embedding = planner::EmbeddingPlacement::Device;  // (auto would move it to fit one byte less)
  planner::GpuSpec gpu{"test", free_bytes, free_bytes, 9, 0};
  return planner::make_plan({config_for(Qwen35Dims::preset(size)), 5, prequantized, size}, gpu, o);
}

// A BF16 source is quantized before the arenas exist: the plan names the quantizer's arena and
// checks the device holds it then too. For every size that time needs less than the arenas do,
// so the verdicts are the ones the arenas alone give.
TEST(ArenaCarver, APlanQuantizedAtLoadNamesTheQuantizeArena) {
  for (const char* size : {"27B", "9B", "4B", "2B", "0.8B"}) {
    SCOPED_TRACE(size);
    const planner::Plan bf16 = source_plan(size, false, uint64_t(1) << 40);
    EXPECT_EQ(bf16.quantize_bytes, 44 * kMiB);
    EXPECT_EQ(bf16.quantize_required_bytes(), 44 * kMiB + bf16.cuda_context_bytes + bf16.options.safety_margin);
    EXPECT_LT(bf16.quantize_required_bytes(), bf16.required_bytes());
    EXPECT_EQ(source_plan(size, true, uint64_t(1) << 40).quantize_bytes, 0u);  // an HLWQ repo
    EXPECT_TRUE(source_plan(size, false, bf16.required_bytes()).fits());
    EXPECT_FALSE(source_plan(size, false, bf16.required_bytes() - 1).fits());
  }
}

// --- on a GPU ---

ThreadPool& pool() {
  static ThreadPool p;
  return p;
}

BlockQuantizeSpec spec5() {
  const auto t = codebook_table(Codebook::Converged, 5);
  return {5, {t.begin(), t.end()}, ScaleKind::Norm};
}

uint64_t device_free() {
  size_t free_b = 0, total = 0;
  check(cudaDeviceSynchronize(), "sync");
  check(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo");
  return free_b;
}

std::vector<std::byte> random_bf16(int64_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<std::byte> out(size_t(n) * 2);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = f32_to_bf16(nd(g));
    std::memcpy(&out[size_t(i) * 2], &h, 2);
  }
  return out;
}

// rows x cols BF16 through the GPU quantizer `gpu` and the CPU one: the same codes and scales,
// with the GPU's outputs poisoned first.
void expect_cpu_bytes(BlockQuantizer& gpu, int64_t rows, int64_t cols, uint64_t seed) {
  SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
  const auto src = random_bf16(rows * cols, seed);
  const int64_t nb = (cols + 127) / 128;
  const uint64_t row_out = packed_row_bytes(5, cols);
  std::vector<uint8_t> pc(size_t(rows * row_out)), pg(pc.size(), 0xee);
  std::vector<uint16_t> sc(size_t(rows * nb)), sg(sc.size(), 0xeeee);
  make_cpu_block_quantizer(spec5(), pool())->quantize({src.data(), DType::BF16, rows, cols, pc.data(), sc.data()});
  gpu.quantize({src.data(), DType::BF16, rows, cols, pg.data(), sg.data()});
  EXPECT_TRUE(sc == sg) << "scales differ";
  EXPECT_TRUE(pc == pg) << "codes differ";
}

TEST(DeviceArenas, TheGpuQuantizerAllocatesExactlyItsPlannedArena) {
  HLWQ_REQUIRE_GPU();
  {  // load the quantizer's kernel and the runtime's state for streams first (lazy loading)
    auto warm = make_cuda_block_quantizer(spec5(), pool());
    ASSERT_TRUE(warm);
    expect_cpu_bytes(*warm, 2, 256, 1);
  }
  const uint64_t planned = planner::quantize_arena().device_bytes();
  const uint64_t f0 = device_free();
  auto gpu = make_cuda_block_quantizer(spec5(), pool());
  ASSERT_TRUE(gpu);
  const uint64_t f1 = device_free();
  // Whole rows in two pieces (a 27B in_proj slice), then one row of 20,000,000 values (40 MB,
  // more than a slot's 16 MiB: three pieces of one row), then a short ragged chunk.
  expect_cpu_bytes(*gpu, 2000, 5120, 2);
  expect_cpu_bytes(*gpu, 1, 20000000, 3);
  expect_cpu_bytes(*gpu, 7, 300, 4);
  const uint64_t f2 = device_free();
  gpu.reset();
  const uint64_t f3 = device_free();
  std::printf("quantize arena: planned %.1f MiB, measured at start %.1f MiB, while quantizing %.1f MiB, "
              "given back %.1f MiB\n",
              planned / 1048576.0, (double(f0) - double(f1)) / 1048576.0, (double(f0) - double(f2)) / 1048576.0,
              (double(f3) - double(f2)) / 1048576.0);
  EXPECT_EQ(f0 - f1, planned) << "the quantizer allocates its planned arena when it is made";
  EXPECT_EQ(f1, f2) << "and nothing while it quantizes";
  EXPECT_EQ(f3, f0) << "and gives it all back";
}

}  // namespace
}  // namespace hlwq::cuda
