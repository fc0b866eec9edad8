// The shared index rules (na_index.h) against brute force and against the reference's
// independent reading of the spec, over every small axis configuration.
#include "na/common/na_index.h"

#include <gtest/gtest.h>

#include <vector>

#include "attention/ops/na_reference.h"

using namespace vitrine::attention;

namespace {

struct Axis {
  int64_t length, kernel, dilation;
  bool causal;
};

std::vector<Axis> every_small_axis() {
  std::vector<Axis> out;
  for (int64_t length = 1; length <= 24; ++length)
    for (int64_t dilation = 1; dilation <= 4; ++dilation)
      for (int64_t kernel = 1; kernel * dilation <= length; kernel += 2)
        for (bool causal : {false, true}) out.push_back({length, kernel, dilation, causal});
  return out;
}

std::vector<int64_t> window_keys(const Axis& a, int64_t i) {
  const na::Span w = na::window(i, a.length, a.kernel, a.dilation, a.causal);
  std::vector<int64_t> keys;
  for (int64_t k = 0; k < w.count; ++k) keys.push_back(w.first + k * a.dilation);
  return keys;
}

}  // namespace

TEST(NaIndex, WindowMatchesTheReferenceReadingOfTheSpec) {
  for (const Axis& a : every_small_axis()) {
    for (int64_t i = 0; i < a.length; ++i) {
      SCOPED_TRACE(testing::Message() << "L=" << a.length << " K=" << a.kernel << " d="
                                      << a.dilation << " causal=" << a.causal << " i=" << i);
      const auto keys = window_keys(a, i);
      EXPECT_EQ(keys, reference::axis_window(i, a.length, a.kernel, a.dilation, a.causal));
      if (!a.causal) {
        EXPECT_EQ(static_cast<int64_t>(keys.size()), a.kernel);  // shifted inward
      }
      for (int64_t j : keys) {
        EXPECT_GE(j, 0);
        EXPECT_LT(j, a.length);
        EXPECT_EQ(j % a.dilation, i % a.dilation);  // same dilation group
        if (a.causal) {
          EXPECT_LE(j, i);
        }
        const int64_t b = na::bias_index(i, j, a.kernel, a.dilation);
        EXPECT_GE(b, 0);
        EXPECT_LE(b, 2 * a.kernel - 2);
      }
    }
  }
}

TEST(NaIndex, InverseWindowIsExactlyTheQueriesThatSeeTheKey) {
  for (const Axis& a : every_small_axis()) {
    for (int64_t j = 0; j < a.length; ++j) {
      SCOPED_TRACE(testing::Message() << "L=" << a.length << " K=" << a.kernel << " d="
                                      << a.dilation << " causal=" << a.causal << " j=" << j);
      std::vector<int64_t> expected;
      for (int64_t i = 0; i < a.length; ++i) {
        const auto keys = window_keys(a, i);
        if (std::find(keys.begin(), keys.end(), j) != keys.end()) expected.push_back(i);
      }
      const na::Span inv = na::inverse_window(j, a.length, a.kernel, a.dilation, a.causal);
      std::vector<int64_t> got;
      for (int64_t t = 0; t < inv.count; ++t) got.push_back(inv.first + t * a.dilation);
      EXPECT_EQ(got, expected);
      // The slot of j inside each of those windows is where the window lists it.
      for (int64_t i : got) {
        const auto keys = window_keys(a, i);
        const int64_t slot = na::slot(j, keys.front(), a.dilation);
        ASSERT_LT(slot, static_cast<int64_t>(keys.size()));
        EXPECT_EQ(keys[slot], j);
      }
    }
  }
}

TEST(NaIndex, GroupLengthCountsPositions) {
  for (int64_t length = 1; length <= 30; ++length)
    for (int64_t d = 1; d <= 5; ++d)
      for (int64_t g = 0; g < std::min(d, length); ++g) {
        int64_t count = 0;
        for (int64_t x = g; x < length; x += d) ++count;
        EXPECT_EQ(na::group_length(length, d, g), count) << length << " " << d << " " << g;
      }
}
