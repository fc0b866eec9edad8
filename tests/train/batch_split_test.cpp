// Batch splitting over threads: slices cover the batch, gradients equal the whole batch's,
// and stochastic layers drawing from per-slice generators make the result reproducible.
#include "train/batch_split.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "config/node.h"
#include "config/view.h"
#include "layers/drop_path.h"
#include "layers/dropout.h"
#include "layers/layer_random.h"
#include "models/registry.h"

namespace vitrine::train {
namespace {

models::ModelPtr nano(double drop_path) {
  config::Node o = config::Node::dict();
  o.set("drop_path_rate", drop_path);
  at::manual_seed(7);
  return models::ModelRegistry::builtin().get("dinat_nano").create(config::ConfigView(o, "model"));
}

std::vector<at::Tensor> gradients(models::Model& model) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& p : model.parameters()) out.push_back(p.grad().clone());
  return out;
}

void zero_gradients(models::Model& model) {
  for (at::Tensor& p : model.parameters()) p.mutable_grad() = at::Tensor();
}

// Split training of `model` on (x, y), each slice drawing from a generator seeded by `seed`.
std::vector<at::Tensor> split_gradients(models::Model& model, BatchSplit& split,
                                        const at::Tensor& x, const at::Tensor& y, uint64_t seed) {
  zero_gradients(model);
  const int64_t rows = x.size(0);
  split.forward_backward(rows, model.parameters(), [&](int part, int64_t first, int64_t count) {
    layers::LayerGeneratorScope scope(at::make_generator<at::CPUGeneratorImpl>(seed + part));
    const at::Tensor loss =
        at::cross_entropy_loss(model.forward(x.narrow(0, first, count)), y.narrow(0, first, count));
    return loss * (static_cast<double>(count) / rows);
  });
  return gradients(model);
}

TEST(BatchSplitTest, SlicesCoverTheBatchLargestFirst) {
  const std::vector<std::pair<int64_t, int64_t>> expected = {{0, 4}, {4, 3}, {7, 3}};
  for (int part = 0; part < 3; ++part) EXPECT_EQ(BatchSplit::slice(10, 3, part), expected[part]);
  EXPECT_EQ(BatchSplit::slice(2, 4, 1), (std::pair<int64_t, int64_t>(1, 1)));
  EXPECT_EQ(BatchSplit::slice(2, 4, 3).second, 0);
  EXPECT_THROW(BatchSplit(0), std::invalid_argument);
}

TEST(BatchSplitTest, GradientsEqualTheWholeBatchs) {
  at::set_num_threads(1);
  models::ModelPtr model = nano(0.0);
  model->train();
  const at::Tensor x = at::randn({11, 1, 28, 28});
  const at::Tensor y = at::randint(0, 10, {11}, at::kLong);

  zero_gradients(*model);
  at::cross_entropy_loss(model->forward(x), y).backward();
  const std::vector<at::Tensor> whole = gradients(*model);

  for (int parts : {2, 3, 16}) {  // 16 > rows: the empty slices are skipped
    BatchSplit split(parts);
    const std::vector<at::Tensor> sliced = split_gradients(*model, split, x, y, 1);
    ASSERT_EQ(sliced.size(), whole.size());
    for (size_t i = 0; i < whole.size(); ++i)
      EXPECT_TRUE(at::allclose(sliced[i], whole[i], 1e-4, 1e-6))
          << "parts " << parts << ", parameter " << i << ": max difference "
          << (sliced[i] - whole[i]).abs().max().item<double>();
  }
}

TEST(BatchSplitTest, PerSliceGeneratorsMakeDropPathReproducible) {
  at::set_num_threads(1);
  models::ModelPtr model = nano(0.5);
  model->train();
  const at::Tensor x = at::randn({8, 1, 28, 28});
  const at::Tensor y = at::randint(0, 10, {8}, at::kLong);
  BatchSplit split(2);
  const std::vector<at::Tensor> first = split_gradients(*model, split, x, y, 100);
  for (int repeat = 0; repeat < 3; ++repeat) {
    const std::vector<at::Tensor> again = split_gradients(*model, split, x, y, 100);
    for (size_t i = 0; i < first.size(); ++i) ASSERT_TRUE(at::equal(first[i], again[i]));
  }
  // The masks do come from the scoped generators: other seeds, other gradients.
  const std::vector<at::Tensor> other = split_gradients(*model, split, x, y, 200);
  bool differs = false;
  for (size_t i = 0; i < first.size(); ++i) differs |= !at::equal(first[i], other[i]);
  EXPECT_TRUE(differs);
}

TEST(BatchSplitTest, ForwardConcatenatesTheSlicesInOrder) {
  at::set_num_threads(1);
  models::ModelPtr model = nano(0.1);
  model->eval();
  c10::InferenceMode inference;
  const at::Tensor x = at::randn({9, 1, 28, 28});
  const at::Tensor whole = model->forward(x);
  BatchSplit split(2);
  const at::Tensor sliced =
      split.forward(x, [&](const at::Tensor& slice) { return model->forward(slice); });
  ASSERT_EQ(sliced.sizes(), whole.sizes());
  EXPECT_TRUE(at::allclose(sliced, whole, 1e-5, 1e-6));
  EXPECT_TRUE(sliced.is_inference());  // the workers ran in the caller's inference mode
}

TEST(BatchSplitTest, ASlicesExceptionReachesTheCaller) {
  BatchSplit split(2);
  const at::Tensor w = at::ones({3}).requires_grad_();
  EXPECT_THROW(split.forward_backward(4, {w},
                                      [&](int part, int64_t, int64_t) -> at::Tensor {
                                        if (part == 1) throw std::runtime_error("slice failed");
                                        return w.sum();
                                      }),
               std::runtime_error);
}

TEST(LayerRandom, StochasticLayersDrawFromTheScopedGenerator) {
  layers::DropPath drop_path(0.5);
  layers::Dropout dropout(0.5);
  const at::Tensor x = at::ones({64, 4});
  auto draw = [&](uint64_t seed) {
    layers::LayerGeneratorScope scope(at::make_generator<at::CPUGeneratorImpl>(seed));
    return std::make_pair(drop_path->forward(x), dropout->forward(x));
  };
  const auto a = draw(5), b = draw(5), c = draw(6);
  EXPECT_TRUE(at::equal(a.first, b.first));
  EXPECT_TRUE(at::equal(a.second, b.second));
  EXPECT_FALSE(at::equal(a.first, c.first));
  // Survivors are scaled by 1/(1-p); drop path keeps or drops whole rows.
  const at::Tensor values = std::get<0>(at::_unique(a.second));
  EXPECT_TRUE(at::equal(values, at::tensor({0.0f, 2.0f})));
  for (int64_t r = 0; r < 64; ++r) {
    const at::Tensor row = a.first[r];
    EXPECT_TRUE(at::equal(row, at::zeros({4})) || at::equal(row, at::full({4}, 2.0f)));
  }
  // Without a scope they use torch's global generator, as before.
  at::manual_seed(3);
  const at::Tensor g1 = dropout->forward(x);
  at::manual_seed(3);
  EXPECT_TRUE(at::equal(g1, dropout->forward(x)));
}

// balanced_ranges cuts consecutive items into ranges of about equal weight.
TEST(BatchSplitTest, BalancedRangesCoverEveryItemInOrder) {
  EXPECT_EQ(BatchSplit::balanced_ranges({10, 10, 10, 10}, 2), (std::vector<size_t>{0, 2, 4}));
  EXPECT_EQ(BatchSplit::balanced_ranges({100, 1, 1}, 2), (std::vector<size_t>{0, 1, 3}));
  EXPECT_EQ(BatchSplit::balanced_ranges({1, 1, 1, 100}, 2), (std::vector<size_t>{0, 3, 4}));
  EXPECT_EQ(BatchSplit::balanced_ranges({4, 4, 4, 6, 20}, 2), (std::vector<size_t>{0, 4, 5}));
  EXPECT_EQ(BatchSplit::balanced_ranges({5}, 3), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(BatchSplit::balanced_ranges({3, 3, 3}, 1), (std::vector<size_t>{0, 3}));
}

}  // namespace
}  // namespace vitrine::train
