#include "evaluation/topk_accuracy.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace vitrine::evaluation {

Accuracy batch_accuracy(const at::Tensor& logits, const at::Tensor& labels,
                        const std::vector<int64_t>& ks) {
  Accuracy out;
  out.samples = logits.size(0);
  out.loss = at::cross_entropy_loss(logits.to(at::kFloat), labels).item<double>() *
             static_cast<double>(out.samples);
  const int64_t max_k = std::min<int64_t>(*std::max_element(ks.begin(), ks.end()), logits.size(1));
  const at::Tensor top = std::get<1>(logits.topk(max_k, 1, true, true));
  const at::Tensor hits = top.eq(labels.view({-1, 1}));
  for (int64_t k : ks) {
    const int64_t kk = std::min<int64_t>(k, logits.size(1));
    out.topk.push_back(hits.narrow(1, 0, kk).any(1).sum().item<double>() * 100.0 /
                       static_cast<double>(out.samples));
  }
  return out;
}

}  // namespace vitrine::evaluation
