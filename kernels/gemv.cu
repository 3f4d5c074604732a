// gemv(): checks the call, plans how the work units spread over the SMs, sizes shared memory,
// and launches the kernel of the matrix's code width (gemv_kernel.cuh).
#include "gemv.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "cuda_check.h"
#include "gemv_launch.h"

namespace hlwq::cuda {

namespace gd = gemv_detail;

namespace {

gd::Plan make_plan(const QMatrix& w, bool split_k, int grid) {
  gd::Plan p;
  p.tiles = (w.rows + 15) / 16;
  p.nb = w.cols / 128;
  p.sb = p.nb;
  if (split_k) {  // smallest slice of at least 16 blocks that divides the row evenly
    for (int d = 16; d < p.nb; ++d)
      if (p.nb % d == 0) {
        p.sb = d;
        break;
      }
  }
  p.slices = p.nb / p.sb;
  p.units = p.slices * p.tiles * p.sb;
  p.aligned = split_k ? 0 : 1;
  if (p.aligned) {
    p.nbx = p.nb;
  } else {  // a CTA's units span at most this many tile slices, so this many K slices
    const int per_cta = (p.units + grid - 1) / grid;
    const int spans = per_cta / p.sb + 2;
    p.nbx = std::min(p.nb, (spans / p.tiles + 2) * p.sb);
  }
  return p;
}

std::size_t smem_bytes(int bits, bool multi, int tokens, int nbx) {
  const int block = multi ? 4 * gd::run_stride(tokens) : gd::kBlockXBytes;
  return std::size_t(gd::xs_offset(bits, multi)) + std::size_t(nbx) * block;
}

// Programmatic dependent launch lets the table build and the first weight loads run while
// the previous kernel drains; HLWQ_GEMV_PDL=0 turns it off for A/B timing.
GemvTuning tuning_from_env() {
  GemvTuning t;
  const char* e = std::getenv("HLWQ_GEMV_PDL");
  t.pdl = !(e && std::string(e) == "0");
  return t;
}

void check_args(const GemvArgs& a, GemvInput input, GemvOutput output) {
  if (!q_bits_supported(a.w.bits))
    throw_error(ErrorKind::InvalidArgument, "gemv: takes 5-, 4- or 3-bit codes, got ", std::to_string(a.w.bits), "-bit");
  if (a.w.cols % 128 != 0 || a.w.cols <= 0 || a.w.rows <= 0)
    throw_error(ErrorKind::InvalidArgument, "gemv: matrix ", std::to_string(a.w.rows), "x", std::to_string(a.w.cols),
                " is not a positive multiple of 128 columns");
  if (a.w.row0 != 0 || a.w.stored_rows != a.w.rows)
    throw_error(ErrorKind::InvalidArgument, "gemv: takes a whole stored matrix, got rows ", std::to_string(a.w.row0),
                "+", std::to_string(a.w.rows), " of ", std::to_string(a.w.stored_rows));
  if ((long long)((a.w.rows + 15) / 16) * (a.w.cols / 128) >= (1ll << 31))
    throw_error(ErrorKind::InvalidArgument, "gemv: matrix ", std::to_string(a.w.rows), "x", std::to_string(a.w.cols),
                " has too many 16x128 tiles");
  if (output == GemvOutput::SwiGlu && a.w.rows % 2 != 0)
    throw_error(ErrorKind::InvalidArgument, "gemv: SwiGLU needs (gate, up) row pairs, got ", std::to_string(a.w.rows),
                " rows");
  if (a.tokens < 1 || a.tokens > kGemvMaxTokens)
    throw_error(ErrorKind::InvalidArgument, "gemv: takes 1 to ", std::to_string(kGemvMaxTokens), " tokens, got ",
                std::to_string(a.tokens));
  if (input == GemvInput::RotatedBf16 ? a.in_rotated == nullptr : a.in == nullptr)
    throw_error(ErrorKind::InvalidArgument, "gemv: no input for input mode ", std::to_string(int(input)));
  if (input == GemvInput::RotatedBf16 && output == GemvOutput::SwiGlu)
    throw_error(ErrorKind::InvalidArgument, "gemv: the rotated bf16 input takes Store or AddResidual output");
  if (output == GemvOutput::AddResidual && input != GemvInput::RotatedBf16 && a.in == a.out)
    throw_error(ErrorKind::InvalidArgument, "gemv: the residual output must not alias the input");
  // Rows are read as float4 (bf16: 4 at once) and written per element.
  const int out_width = output == GemvOutput::SwiGlu ? a.w.rows / 2 : a.w.rows;
  auto stride_ok = [&](int s, int width) { return s == 0 || (s >= width && s % 4 == 0); };
  if (!stride_ok(a.in_stride, a.w.cols) || !stride_ok(a.gate_stride, a.w.cols) || (a.out_stride != 0 && a.out_stride < out_width))
    throw_error(ErrorKind::InvalidArgument, "gemv: token strides in ", std::to_string(a.in_stride), ", gate ",
                std::to_string(a.gate_stride), ", out ", std::to_string(a.out_stride), " for a ", std::to_string(a.w.rows),
                "x", std::to_string(a.w.cols), " matrix (0 or at least the row width; in and gate multiples of 4)");
}

// One launch for all of a.tokens (strides filled in); false when their activations do not
// fit in shared memory next to the table.
bool launch(const GemvArgs& a, GemvInput input, GemvOutput output, cudaStream_t stream) {
  gd::Launch l;
  l.args = a;
  l.input = input;
  l.output = output;
  l.multi = a.tokens > 1 || input == GemvInput::RotatedBf16;
  const bool split_k = output == GemvOutput::AddResidual;
  const int tiles = (a.w.rows + 15) / 16;
  const long long units = (long long)tiles * (a.w.cols / 128);
  l.grid = int(std::min<long long>(device_sms(), split_k ? units : tiles));
  l.plan = make_plan(a.w, split_k, l.grid);
  l.plan.tokens = a.tokens;
  if (l.multi) l.plan.slots = std::min(gd::kMaxSlots, gd::acc_bytes(true) / 4 / (16 * a.tokens));
  l.smem = smem_bytes(a.w.bits, l.multi, a.tokens, l.plan.nbx);
  if (l.smem > std::size_t(device_smem_optin())) {
    if (a.tokens > 1) return false;
    throw_error(ErrorKind::InvalidArgument, "gemv: ", std::to_string(a.w.cols), " input columns need ",
                std::to_string(l.smem), " bytes of shared memory, the device allows ", std::to_string(device_smem_optin()));
  }
  GemvTuning& tune = gemv_tuning();
  l.pdl = tune.pdl;
  l.traced = !l.multi && a.w.bits == 5 && tune.trace && tune.trace_next < tune.trace_launches;
  if (l.traced) l.plan.trace = tune.trace + std::size_t(tune.trace_next++) * tune.trace_ctas * gd::kTraceWords;
  switch (a.w.bits) {
    case 5: gd::launch_width<5>(l, stream); break;
    case 4: gd::launch_width<4>(l, stream); break;
    default: gd::launch_width<3>(l, stream); break;
  }
  return true;
}

// Tokens [first, first + count) of `a` as a call of their own.
GemvArgs token_range(const GemvArgs& a, int first, int count) {
  GemvArgs r = a;
  r.tokens = count;
  const std::size_t in = std::size_t(first) * a.in_stride;
  if (r.in) r.in += in;
  if (r.in_rotated) r.in_rotated += in;
  if (r.gate) r.gate += std::size_t(first) * a.gate_stride;
  r.out += std::size_t(first) * a.out_stride;
  return r;
}

void launch_in_groups(const GemvArgs& a, GemvInput input, GemvOutput output, cudaStream_t stream) {
  if (launch(a, input, output, stream)) return;
  const int half = (a.tokens + 1) / 2;  // too many tokens' activations for shared memory
  launch_in_groups(token_range(a, 0, half), input, output, stream);
  launch_in_groups(token_range(a, half, a.tokens - half), input, output, stream);
}

}  // namespace

void gemv(const GemvArgs& args, GemvInput input, GemvOutput output, cudaStream_t stream) {
  check_args(args, input, output);
  GemvArgs a = args;
  if (a.in_stride == 0) a.in_stride = a.w.cols;
  if (a.gate_stride == 0) a.gate_stride = a.w.cols;
  if (a.out_stride == 0) a.out_stride = output == GemvOutput::SwiGlu ? a.w.rows / 2 : a.w.rows;
  launch_in_groups(a, input, output, stream);
}

std::size_t gemv_smem_bytes(int bits, int cols) { return smem_bytes(bits, false, 1, cols / 128); }

GemvTuning& gemv_tuning() {
  static GemvTuning t = tuning_from_env();
  return t;
}

int gemv_trace_words() { return gd::kTraceWords; }

}  // namespace hlwq::cuda
