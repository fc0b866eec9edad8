// GradientReducer with a stand-in all-reduce: the "other rank" contributes a gradient of
// ones everywhere, so after finish() every gradient must be (own + 1) / 2.
#include "train/gradient_reducer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

namespace {

using vitrine::train::GradientReducer;

struct Recorder {
  std::vector<int64_t> launched_sizes;  // flat sizes, in launch order
  int waits = 0;
  GradientReducer::AllReduce all_reduce() {
    return [this](at::Tensor& flat) -> std::function<void()> {
      launched_sizes.push_back(flat.numel());
      // The other rank's share, already divided by the world size of 2.
      return [this, flat]() mutable {
        flat.add_(0.5);
        ++waits;
      };
    };
  }
};

// Three layers of about 4 KB, 1 KB and 1 KB of float parameters: 1 KB buckets give three.
torch::nn::Sequential make_net() {
  torch::manual_seed(0);
  return torch::nn::Sequential(torch::nn::Linear(32, 30), torch::nn::Tanh(),
                               torch::nn::Linear(30, 8), torch::nn::Tanh(),
                               torch::nn::Linear(8, 30));
}

std::vector<at::Tensor> grads_of(torch::nn::Sequential& net) {
  std::vector<at::Tensor> g;
  for (const auto& p : net->parameters()) g.push_back(p.grad().clone());
  return g;
}

TEST(GradientReducer, AveragesInBucketsLaunchedDuringBackward) {
  torch::nn::Sequential reference = make_net(), net = make_net();
  const at::Tensor x = torch::randn({5, 32}), target = torch::randn({5, 30});
  torch::mse_loss(reference->forward(x), target).backward();
  const std::vector<at::Tensor> own = grads_of(reference);

  Recorder recorder;
  GradientReducer reducer(net->parameters(), 1024, 1024, 2, recorder.all_reduce());
  ASSERT_EQ(reducer.buckets().size(), 3u);
  // Reverse order: the first bucket holds the last parameter (the output layer's bias).
  EXPECT_EQ(reducer.buckets().front().front(), net->parameters().size() - 1);
  reducer.arm();
  torch::mse_loss(net->forward(x), target).backward();
  // The output layer's gradients are ready long before the input layer's: at least the
  // buckets before the last one went out while backward ran.
  EXPECT_GE(reducer.launched_during_backward(), static_cast<int>(reducer.buckets().size()) - 1);
  EXPECT_EQ(recorder.waits, 0);
  reducer.finish();
  EXPECT_EQ(recorder.waits, static_cast<int>(reducer.buckets().size()));
  int64_t launched = 0;
  for (int64_t n : recorder.launched_sizes) launched += n;
  int64_t total = 0;
  for (const auto& p : net->parameters()) total += p.numel();
  EXPECT_EQ(launched, total);
  const auto params = net->parameters();
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(torch::allclose(params[i].grad(), (own[i] + 1) / 2, 1e-6, 1e-7)) << i;
}

TEST(GradientReducer, DisarmedBackwardsAccumulateAndTheArmedOneReducesTheSum) {
  torch::nn::Sequential reference = make_net(), net = make_net();
  const at::Tensor x1 = torch::randn({4, 32}), x2 = torch::randn({4, 32});
  const at::Tensor t = torch::randn({4, 30});
  torch::mse_loss(reference->forward(x1), t).backward();
  torch::mse_loss(reference->forward(x2), t).backward();
  const std::vector<at::Tensor> own = grads_of(reference);

  Recorder recorder;
  GradientReducer reducer(net->parameters(), 1024, 2048, 2, recorder.all_reduce());
  torch::mse_loss(net->forward(x1), t).backward();  // like DDP's no_sync()
  EXPECT_TRUE(recorder.launched_sizes.empty());
  reducer.arm();
  torch::mse_loss(net->forward(x2), t).backward();
  reducer.finish();
  const auto params = net->parameters();
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(torch::allclose(params[i].grad(), (own[i] + 1) / 2, 1e-6, 1e-7)) << i;
}

TEST(GradientReducer, AParameterWithoutGradientStillTakesPart) {
  torch::nn::Linear used(4, 3), unused(2, 2);
  std::vector<at::Tensor> params = used->parameters();
  for (const auto& p : unused->parameters()) params.push_back(p);
  Recorder recorder;
  GradientReducer reducer(params, 1 << 20, 1 << 20, 2, recorder.all_reduce());
  reducer.arm();
  used->forward(torch::randn({2, 4})).sum().backward();
  reducer.finish();
  // Its bucket waited for it, went out at finish(), and it received the other rank's half.
  for (const auto& p : unused->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_TRUE(torch::allclose(p.grad(), torch::full_like(p, 0.5)));
  }
  // Every rank launches the same buckets in the same order: all of them, once.
  EXPECT_EQ(recorder.launched_sizes.size(), reducer.buckets().size());
}

TEST(GradientReducer, RefusesFrozenParameters) {
  torch::nn::Linear layer(2, 2);
  layer->weight.set_requires_grad(false);
  Recorder recorder;
  EXPECT_THROW(GradientReducer(layer->parameters(), 1024, 1024, 2, recorder.all_reduce()),
               std::invalid_argument);
}

}  // namespace
