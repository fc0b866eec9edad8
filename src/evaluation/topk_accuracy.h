// Top-k accuracy of classification logits (timm's accuracy()): the share of rows whose label
// is among the k highest logits, in percent, with the summed cross-entropy for the loss column.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace vitrine::evaluation {

struct Accuracy {
  double loss = 0;           // cross-entropy summed over the rows
  std::vector<double> topk;  // percent, one per k
  int64_t samples = 0;
};

// One batch: logits [N, classes], labels [N]; each k is clipped to the number of classes.
Accuracy batch_accuracy(const at::Tensor& logits, const at::Tensor& labels,
                        const std::vector<int64_t>& ks);

}  // namespace vitrine::evaluation
