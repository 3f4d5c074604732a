// Greedy pick on the GPU against std::max_element (first maximum wins ties), including the
// 248320-entry vocabulary, a tie, NaNs, and the position advance the decode graph relies on.
#include <algorithm>

#include "gpu_test_util.h"
#include "sampling.h"

namespace hlwq::cuda::test {
namespace {

int run(const std::vector<float>& logits, int* pos_after = nullptr) {
  Dev<float> d(logits);
  Dev<uint8_t> scratch(argmax_scratch_bytes(int(logits.size())));
  Dev<int32_t> tok(1);
  Dev<int> pos(1);
  pos.upload({41});
  tok.poison();
  sample_greedy(d.p, int(logits.size()), scratch.p, tok.p, pos.p, nullptr);
  if (pos_after) *pos_after = pos.download()[0];
  return tok.download()[0];
}

TEST(SampleGreedy, MatchesMaxElement) {
  HLWQ_REQUIRE_GPU();
  for (int n : {1, 7, 1000, 65537, 248320}) {
    auto v = uniform(n, -10.f, 10.f, n);
    EXPECT_EQ(run(v), int(std::max_element(v.begin(), v.end()) - v.begin())) << n;
  }
}

TEST(SampleGreedy, TiesGoToLowestIndexAndNanNeverWins) {
  HLWQ_REQUIRE_GPU();
  auto v = uniform(248320, -1.f, 1.f, 3);
  v[200000] = 5.f;
  v[1234] = 5.f;
  v[7] = NAN;
  int pos = 0;
  EXPECT_EQ(run(v, &pos), 1234);
  EXPECT_EQ(pos, 42);
}

}  // namespace
}  // namespace hlwq::cuda::test
