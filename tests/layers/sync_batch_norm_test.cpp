// SyncBatchNorm against libtorch's batch norm: on one rank it is batch norm; on two
// (emulated: the stand-in sum adds the other half-batch's per-channel terms, computed from
// the whole batch) each rank's output and input gradient are its rows of whole-batch
// batch norm.
#include "layers/sync_batch_norm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "layers/batch_norm.h"

namespace {

using namespace vitrine::layers;

at::Tensor channel_sum(const at::Tensor& t) {
  return t.sum({0, 2, 3});
}

TEST(SyncBatchNorm, OneRankIsBatchNorm) {
  torch::manual_seed(0);
  const at::Tensor x0 = torch::randn({4, 3, 5, 6}, torch::kDouble) * 2 + 1;
  const at::Tensor dy = torch::randn({4, 3, 5, 6}, torch::kDouble);
  const at::Tensor w0 = torch::rand({3}, torch::kDouble) + 0.5,
                   b0 = torch::randn({3}, torch::kDouble);
  at::Tensor rm_ref = torch::zeros({3}, torch::kDouble), rv_ref = torch::ones({3}, torch::kDouble);
  at::Tensor rm = rm_ref.clone(), rv = rv_ref.clone(), tracked = torch::zeros({}, torch::kLong);

  at::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(),
             b = b0.clone().requires_grad_();
  at::batch_norm(x, w, b, rm_ref, rv_ref, true, 0.1, 1e-5, false).backward(dy);
  at::Tensor xs = x0.clone().requires_grad_(), ws = w0.clone().requires_grad_(),
             bs = b0.clone().requires_grad_();
  const RankSum alone = [](at::Tensor&) {};
  const at::Tensor y = sync_batch_norm(xs, ws, bs, rm, rv, tracked, 0.1, 1e-5, alone);
  y.backward(dy);
  EXPECT_TRUE(
      torch::allclose(y, at::batch_norm(x0, w0, b0, {}, {}, true, 0.1, 1e-5, false), 1e-10, 1e-10));
  EXPECT_TRUE(torch::allclose(xs.grad(), x.grad(), 1e-10, 1e-10));
  EXPECT_TRUE(torch::allclose(ws.grad(), w.grad(), 1e-10, 1e-10));
  EXPECT_TRUE(torch::allclose(bs.grad(), b.grad(), 1e-10, 1e-10));
  EXPECT_TRUE(torch::allclose(rm, rm_ref, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(rv, rv_ref, 1e-12, 1e-12));  // unbiased variance, as PyTorch
  EXPECT_EQ(tracked.item<int64_t>(), 1);
}

TEST(SyncBatchNorm, GradcheckInFloat64) {
  torch::manual_seed(1);
  const RankSum alone = [](at::Tensor&) {};
  at::Tensor x = torch::randn({3, 2, 4, 3}, torch::kDouble).requires_grad_();
  at::Tensor w = (torch::rand({2}, torch::kDouble) + 0.5).requires_grad_();
  at::Tensor b = torch::randn({2}, torch::kDouble).requires_grad_();
  at::Tensor rm = torch::zeros({2}, torch::kDouble), rv = torch::ones({2}, torch::kDouble);
  const at::Tensor probe = torch::randn({3, 2, 4, 3}, torch::kDouble);
  auto f = [&](const at::Tensor& xx, const at::Tensor& ww, const at::Tensor& bb) {
    return (sync_batch_norm(xx, ww, bb, rm, rv, {}, 0.1, 1e-5, alone) * probe).sum();
  };
  const auto analytic = torch::autograd::grad({f(x, w, b)}, {x, w, b});
  const std::vector<at::Tensor> inputs{x, w, b};
  for (size_t i = 0; i < inputs.size(); ++i) {
    at::Tensor flat = inputs[i].detach().reshape(-1);
    for (int64_t j = 0; j < flat.numel(); j += 5) {
      std::vector<at::Tensor> plus{x.detach(), w.detach(), b.detach()}, minus = plus;
      plus[i] = plus[i].clone();
      minus[i] = minus[i].clone();
      plus[i].view(-1)[j] += 1e-6;
      minus[i].view(-1)[j] -= 1e-6;
      const double numeric =
          (f(plus[0], plus[1], plus[2]) - f(minus[0], minus[1], minus[2])).item<double>() / 2e-6;
      EXPECT_NEAR(analytic[i].reshape(-1)[j].item<double>(), numeric, 1e-6) << i << " " << j;
    }
  }
}

TEST(SyncBatchNorm, TwoRanksNormaliseLikeTheWholeBatch) {
  torch::manual_seed(2);
  const at::Tensor x = torch::randn({6, 3, 4, 4}, torch::kDouble) * 3 - 1;
  const at::Tensor dy = torch::randn({6, 3, 4, 4}, torch::kDouble);
  const at::Tensor w = torch::rand({3}, torch::kDouble) + 0.5,
                   b = torch::randn({3}, torch::kDouble);
  // Whole batch, libtorch's batch norm.
  at::Tensor xr = x.clone().requires_grad_();
  at::Tensor y_ref = at::batch_norm(xr, w, b, {}, {}, true, 0.1, 1e-5, false);
  y_ref.backward(dy);
  // Rank 0 holds rows 0-1, rank 1 rows 2-5 (unequal shards). Rank 1's terms for the sum:
  const at::Tensor x1 = x.narrow(0, 2, 4), dy1 = dy.narrow(0, 2, 4);
  const at::Tensor mean = x.mean({0, 2, 3}), var = x.var({0, 2, 3}, false);
  const at::Tensor xhat1 = (x1 - mean.view({1, 3, 1, 1})) / (var + 1e-5).sqrt().view({1, 3, 1, 1});
  const at::Tensor other_forward =
      at::cat({channel_sum(x1), channel_sum(x1 * x1), torch::full({1}, 64.0, torch::kDouble)});
  const at::Tensor other_backward = at::cat({channel_sum(dy1), channel_sum(dy1 * xhat1)});
  int calls = 0;
  const RankSum with_rank1 = [&](at::Tensor& t) {
    ++calls;
    t.add_(t.numel() == 7 ? other_forward : other_backward);
  };
  at::Tensor x0 = x.narrow(0, 0, 2).clone().requires_grad_();
  at::Tensor rm = torch::zeros({3}, torch::kDouble), rv = torch::ones({3}, torch::kDouble);
  const at::Tensor y0 = sync_batch_norm(x0, w, b, rm, rv, {}, 0.1, 1e-5, with_rank1);
  y0.backward(dy.narrow(0, 0, 2));
  EXPECT_EQ(calls, 2);  // one all-reduce forward, one backward
  EXPECT_TRUE(torch::allclose(y0, y_ref.narrow(0, 0, 2), 1e-10, 1e-10));
  EXPECT_TRUE(torch::allclose(x0.grad(), xr.grad().narrow(0, 0, 2), 1e-10, 1e-10));
  // The running variance uses the unbiased variance over all 96 elements per channel.
  EXPECT_TRUE(torch::allclose(rv, 0.9 + 0.1 * x.var({0, 2, 3}, true), 1e-10, 1e-10));
  // Without the other rank's terms the result is rank-local batch norm: different.
  const RankSum alone = [](at::Tensor&) {};
  const at::Tensor local = sync_batch_norm(x.narrow(0, 0, 2), w, b, {}, {}, {}, 0.1, 1e-5, alone);
  EXPECT_GT((local - y_ref.narrow(0, 0, 2)).abs().max().item<double>(), 1e-2);
}

TEST(SyncBatchNorm, LayersTakeItOnlyInTrainingAndInsideTheScope) {
  torch::manual_seed(3);
  BatchNorm2d bn(3);
  const at::Tensor x = torch::randn({2, 3, 4, 4});
  int calls = 0;
  {
    SyncBatchNormScope scope([&](at::Tensor&) { ++calls; });
    bn->train();
    bn->forward(x);
    EXPECT_EQ(calls, 1);
    bn->eval();
    bn->forward(x);
    EXPECT_EQ(calls, 1);
  }
  bn->train();
  bn->forward(x);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 2);
}

}  // namespace
