// Tiled SR inference: for a model that is local (pixel replication), overlapping tiles give
// exactly the whole-image output; the tiles cover every pixel, the last ones moved back to the
// border; bad tile settings are errors.
#include "train/sr_task.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace vitrine::train {
namespace {

TEST(SrTiling, LocalModelGivesTheWholeImageOutput) {
  int calls = 0;
  auto replicate = [&](const at::Tensor& x) {
    ++calls;
    return x.repeat_interleave(3, 2).repeat_interleave(3, 3);
  };
  const at::Tensor lr = at::rand({1, 3, 23, 17});
  const at::Tensor whole = replicate(lr);
  calls = 0;
  const at::Tensor tiled = forward_tiled(replicate, lr, 3, 8, 2);
  EXPECT_TRUE(at::allclose(tiled, whole, 0, 1e-6));
  EXPECT_EQ(calls, 4 * 3);  // rows 0,6,12,15 x columns 0,6,9
  calls = 0;
  EXPECT_TRUE(at::equal(forward_tiled(replicate, lr, 3, 0, 16), whole));
  EXPECT_TRUE(at::equal(forward_tiled(replicate, lr, 3, 64, 16), whole));
  EXPECT_EQ(calls, 2);  // no tiling: one call each
  EXPECT_THROW(forward_tiled(replicate, lr, 3, 8, 8), c10::Error);
}

}  // namespace
}  // namespace vitrine::train
