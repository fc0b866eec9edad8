// Top-k accuracy against hand-worked rows: hits by rank, k clipped to the classes, and the
// summed cross-entropy written out with std::exp/std::log.
#include "evaluation/topk_accuracy.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace vitrine::evaluation {
namespace {

TEST(TopkAccuracy, CountsRanksAndClipsKToTheClasses) {
  const std::vector<std::vector<double>> rows = {
      {0.1, 0.9, 0.3, 0.2},  // label 1: first
      {0.5, 0.1, 0.4, 0.3},  // label 2: second
      {0.2, 0.3, 0.1, 0.8},  // label 2: last of four
  };
  const std::vector<int64_t> labels = {1, 2, 2};
  at::Tensor logits = torch::empty({3, 4}, torch::kDouble);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) logits[i][j] = rows[i][j];
  const Accuracy acc = batch_accuracy(logits, torch::tensor(labels), {1, 2, 5});
  ASSERT_EQ(acc.topk.size(), 3u);
  EXPECT_NEAR(acc.topk[0], 100.0 / 3, 1e-9);
  EXPECT_NEAR(acc.topk[1], 200.0 / 3, 1e-9);
  EXPECT_NEAR(acc.topk[2], 100.0, 1e-9);  // k = 5 > 4 classes: every label is within reach
  EXPECT_EQ(acc.samples, 3);

  double loss = 0;
  for (int i = 0; i < 3; ++i) {
    double sum = 0;
    for (double v : rows[i]) sum += std::exp(v);
    loss += std::log(sum) - rows[i][labels[i]];
  }
  EXPECT_NEAR(acc.loss, loss, 1e-5);  // the loss is taken in float32
}

}  // namespace
}  // namespace vitrine::evaluation
