// Test helper for the Python cross-check (tools/hlwq_ref/crosscheck.py):
//   formats_tool quantize SRC DST BITS CODEBOOK SCALE   (quantize_checkpoint)
//   formats_tool dequantize MODEL OUT.safetensors       (load_checkpoint + dequantize_rows -> F32)
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "formats/quantizer.h"
#include "formats/safetensors.h"

using namespace hlwq;

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> a(argv + 1, argv + argc);
    if (a.size() == 6 && a[0] == "quantize") {
      QuantizeOptions o;
      o.bits = std::stoi(a[3]);
      o.codebook = parse_codebook(a[4]);
      o.scale = a[5] == "mse" ? ScaleKind::Mse : ScaleKind::Norm;
      quantize_checkpoint(a[1], a[2], o);
      return 0;
    }
    if (a.size() == 3 && a[0] == "dequantize") {
      const auto ck = load_checkpoint(a[1]);
      std::vector<std::vector<float>> keep;
      std::vector<DenseTensor> out;
      for (const auto& name : ck.weights.names()) {
        if (const auto* q = ck.weights.quant(name)) {
          auto& buf = keep.emplace_back(std::size_t(q->rows * q->cols));
          dequantize_rows(*q, 0, q->rows, buf.data());
          out.push_back({name, DType::F32, {q->rows, q->cols}, std::as_bytes(std::span(buf))});
        } else {
          out.push_back(*ck.weights.dense(name));
        }
      }
      write_safetensors(a[2], out, {{"format", ck.format}});
      return 0;
    }
    std::fprintf(stderr, "usage: formats_tool quantize SRC DST BITS CODEBOOK SCALE | dequantize MODEL OUT\n");
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "formats_tool: %s: %s\n", to_string(e.kind()), e.what());
    return 1;
  }
}
