// CATANet against the official code's structure and semantics: exact parameter counts and
// names, the k-means centre rules (seeding, train vs eval, EMA), sorting round trips, grouped
// attention against per-token loops, the overlapping-patch stitching, shapes and errors, and
// float64 finite differences.
#include "models/sr/catanet.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "attention/multi_head_attention.h"
#include "attention/token_aggregation.h"
#include "config/view.h"
#include "models/registry.h"
#include "models/sr/overlapping_patches.h"
#include "support/finite_differences.h"

namespace vitrine {
namespace {

using at::Tensor;
using attention::TokenAggregationBlock;
using attention::TokenAggregationOptions;

models::ModelPtr create(const std::string& name) {
  config::Node node = config::Node::dict();
  return models::ModelRegistry::builtin().get(name).create(config::ConfigView(node, "model"));
}

Tensor unit_rows(const Tensor& x) {
  return x / x.norm(2, -1, true).clamp_min(1e-12);
}

TEST(CATANet, ParameterCountsAndNamesMatchTheOfficialModel) {
  const std::map<std::string, int64_t> counts{
      {"catanet_x2", 477435}, {"catanet_x3", 549635}, {"catanet_x4", 535195}};
  for (const auto& [name, params] : counts)
    EXPECT_EQ(models::count_parameters(*create(name)), params) << name;

  const auto x4 = create("catanet_x4");
  const auto params = x4->named_parameters();
  const std::map<std::string, std::vector<int64_t>> want{
      {"first_conv.weight", {40, 3, 3, 3}},
      {"blocks.0.0.norm.weight", {40}},
      {"blocks.0.0.mlp.norm.bias", {40}},
      {"blocks.0.0.mlp.fn.fc1.weight", {96, 40}},
      {"blocks.0.0.mlp.fn.dwconv.depthwise_conv.0.weight", {96, 1, 5, 5}},
      {"blocks.0.0.irca_attn.to_k.weight", {36, 40}},
      {"blocks.0.0.irca_attn.to_v.weight", {40, 40}},
      {"blocks.0.0.iasa_attn.to_q.weight", {36, 40}},
      {"blocks.0.0.iasa_attn.proj.weight", {40, 40}},
      {"blocks.0.0.conv1x1.weight", {40, 40, 1, 1}},
      {"blocks.3.1.layer.0.norm.weight", {40}},
      {"blocks.3.1.layer.0.fn.to_q.weight", {36, 40}},
      {"blocks.3.1.layer.1.fn.fc2.weight", {40, 96}},
      {"mid_convs.7.bias", {40}},
      {"upconv1.weight", {160, 40, 3, 3}},
      {"upconv2.bias", {160}},
      {"last_conv.weight", {3, 40, 3, 3}}};
  for (const auto& [name, shape] : want) {
    ASSERT_TRUE(params.contains(name)) << name;
    EXPECT_EQ(params[name].sizes().vec(), shape) << name;
  }
  const auto buffers = x4->named_buffers();
  EXPECT_EQ(buffers["blocks.3.0.means"].sizes().vec(), (std::vector<int64_t>{128, 40}));
  EXPECT_TRUE(buffers.contains("blocks.7.0.initted"));
  EXPECT_EQ(create("catanet_x3")->named_parameters()["upconv.weight"].size(0), 360);
}

TEST(CATANet, UpscalesAndRejectsMapsSmallerThanItsPatches) {
  auto model = create("catanet_x3");
  model->eval();
  torch::NoGradGuard no_grad;
  const Tensor lr = at::rand({2, 3, 28, 33});
  const Tensor sr = model->forward(lr);
  EXPECT_EQ(sr.sizes().vec(), (std::vector<int64_t>{2, 3, 84, 99}));
  EXPECT_TRUE(at::isfinite(sr).all().item<bool>());
  try {
    model->forward(at::rand({1, 3, 24, 40}));
    FAIL() << "a 24-row input ran through 28x28 patches";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("smaller than its 28x28 attention patches"),
              std::string::npos)
        << e.what();
  }
}

// center_iter by hand: each token to its most similar centre, normalised sums, empty keep.
TEST(TokenAggregation, KMeansStepFollowsTheOfficialRule) {
  // Tokens near the first two axes only, so the third centre gets no tokens and stays.
  const Tensor eye = at::eye(4, at::kDouble);
  const Tensor means = eye.narrow(0, 0, 3);
  Tensor x = at::randn({2, 9, 4}, at::kDouble) * 0.1;
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 9; ++i) x[b][i] += eye[(b + i) % 2];
  x = unit_rows(x);
  const Tensor got = attention::spherical_kmeans_step(x, means);
  Tensor sums = at::zeros({3, 4}, at::kDouble);
  std::vector<int> members(3, 0);
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 9; ++i) {
      int best = 0;
      for (int c = 1; c < 3; ++c)
        if (x[b][i].dot(means[c]).item<double>() > x[b][i].dot(means[best]).item<double>())
          best = c;
      sums[best] += x[b][i];
      ++members[best];
    }
  EXPECT_EQ(members[2], 0);
  for (int c = 0; c < 3; ++c) {
    const Tensor want = members[c] == 0 ? means[c] : unit_rows(sums[c]);
    EXPECT_TRUE(at::allclose(got[c], want, 1e-12, 1e-12)) << "centre " << c;
  }
}

TEST(TokenAggregation, MirrorPaddingAndTokenOrderRoundTrip) {
  // The official cat(x, flip(x[N - m:N])) for m <= N; beyond, the reflection goes on.
  const Tensor index = attention::mirror_pad_index(5, 13, at::kCPU);
  const std::vector<int64_t> want{0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 0, 1, 2};
  EXPECT_EQ(std::vector<int64_t>(index.data_ptr<int64_t>(), index.data_ptr<int64_t>() + 13), want);

  const Tensor x = at::randn({3, 10, 4});
  Tensor order = at::stack({at::randperm(10), at::randperm(10), at::randperm(10)});
  const Tensor sorted = attention::gather_tokens(x, order);
  EXPECT_TRUE(at::equal(sorted[1][4], x[1][order[1][4].item<int64_t>()]));
  EXPECT_TRUE(at::equal(attention::scatter_tokens(sorted, order), x));
}

// IASA + IRCA written per query: group g = i / gs attends to the mirrored tokens
// [g gs, g gs + 2 gs) and, separately, to the centres; the two outputs add.
TEST(TokenAggregation, GroupedAttentionMatchesPerQueryLoops) {
  const int64_t heads = 2, dq = 3, dv = 4, K = 5;
  for (const auto& [N, group] :
       std::vector<std::pair<int64_t, int64_t>>{{10, 4}, {12, 4}, {7, 16}, {9, 6}}) {
    SCOPED_TRACE("N " + std::to_string(N) + " group " + std::to_string(group));
    const Tensor q = at::randn({2, N, heads * dq}, at::kDouble);
    const Tensor k = at::randn({2, N, heads * dq}, at::kDouble);
    const Tensor v = at::randn({2, N, heads * dv}, at::kDouble);
    const Tensor kg = at::randn({heads, K, dq}, at::kDouble),
                 vg = at::randn({heads, K, dv}, at::kDouble);
    const Tensor got = attention::grouped_attention(q, k, v, kg, vg, heads, group);
    const int64_t gs = std::min(N, group);
    const int64_t ng = (N + gs - 1) / gs;
    const Tensor mirror = attention::mirror_pad_index(N, (ng + 1) * gs, at::kCPU);
    const double scale = 1.0 / std::sqrt(static_cast<double>(dq));
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < N; ++i)
        for (int64_t h = 0; h < heads; ++h) {
          const Tensor qi = q[b][i].narrow(0, h * dq, dq);
          const int64_t g = i / gs;
          Tensor logits = at::zeros({2 * gs}, at::kDouble);
          for (int64_t j = 0; j < 2 * gs; ++j)
            logits[j] =
                qi.dot(k[b][mirror[g * gs + j].item<int64_t>()].narrow(0, h * dq, dq)) * scale;
          const Tensor p = at::softmax(logits, 0);
          Tensor want = at::zeros({dv}, at::kDouble);
          for (int64_t j = 0; j < 2 * gs; ++j)
            want += p[j] * v[b][mirror[g * gs + j].item<int64_t>()].narrow(0, h * dv, dv);
          const Tensor pg = at::softmax(at::matmul(kg[h], qi) * scale, 0);
          want += at::matmul(pg, vg[h]);
          EXPECT_TRUE(at::allclose(got[b][i].narrow(0, h * dv, dv), want, 1e-12, 1e-12))
              << "token " << i << " head " << h;
        }
  }
}

// The sliced attention equals one matmul-softmax-matmul, with broadcast leading axes too.
TEST(TokenAggregation, SlicedAttentionEqualsTheWholeComputation) {
  const Tensor q = at::randn({3, 4, 2, 7, 5}, at::kDouble);
  const Tensor k = at::randn({3, 4, 2, 9, 5}, at::kDouble);
  const Tensor v = at::randn({3, 4, 2, 9, 6}, at::kDouble);
  const Tensor kg = at::randn({1, 1, 2, 9, 5}, at::kDouble);
  const Tensor vg = at::randn({1, 1, 2, 9, 6}, at::kDouble);
  auto whole = [](const Tensor& a, const Tensor& b, const Tensor& c) {
    return at::matmul(at::softmax(at::matmul(a, b.transpose(-2, -1)) / std::sqrt(5.0), -1), c);
  };
  for (int64_t limit : {int64_t{1} << 30, int64_t{200}, int64_t{63}, int64_t{1}}) {
    SCOPED_TRACE(limit);
    EXPECT_TRUE(at::allclose(attention::scaled_dot_product_attention(q, k, v, limit),
                             whole(q, k, v), 1e-12, 1e-12));
    EXPECT_TRUE(at::allclose(attention::scaled_dot_product_attention(q, kg, vg, limit),
                             whole(q, kg, vg), 1e-12, 1e-12));
  }
}

TokenAggregationOptions small_tab() {
  TokenAggregationOptions o;
  o.dim = 8;
  o.qk_dim = 4;
  o.mlp_dim = 12;
  o.heads = 2;
  o.n_iter = 3;
  o.num_tokens = 4;
  o.group_size = 16;
  return o;
}

// Seeding: the first call's centres are the means of num_tokens contiguous chunks of the
// normed tokens, mirror-padded by num_tokens - N % num_tokens (a whole chunk when N divides).
TEST(TokenAggregation, CentresAreSeededUpdatedByEmaAndFrozenInEval) {
  TokenAggregationBlock tab(small_tab());
  tab->to(at::kDouble);
  const Tensor x = at::randn({2, 8, 4, 3}, at::kDouble);  // N = 12, divisible by 4
  {
    tab->eval();
    torch::NoGradGuard no_grad;
    tab->forward(x);
    EXPECT_FALSE(tab->initialised());
    const Tensor tokens = tab->norm->forward(x.flatten(2).transpose(1, 2));        // [2, 12, 8]
    const Tensor padded = at::cat({tokens, tokens.narrow(1, 8, 4).flip({1})}, 1);  // 16 tokens
    for (int64_t c = 0; c < 4; ++c) {
      const Tensor want = padded.narrow(1, 4 * c, 4).mean(at::IntArrayRef{0, 1});
      EXPECT_TRUE(at::allclose(tab->last_centres()[c], want, 1e-12, 1e-12)) << "chunk " << c;
    }
  }
  // Training: the first call copies the centres it used; later calls follow by EMA 0.999.
  tab->train();
  torch::NoGradGuard no_grad;
  tab->forward(x);
  EXPECT_TRUE(tab->initialised());
  EXPECT_TRUE(at::allclose(tab->means, tab->last_centres(), 0, 0));
  EXPECT_TRUE(
      at::allclose(tab->last_centres().norm(2, -1), at::ones({4}, at::kDouble), 1e-12, 1e-12));
  const Tensor before = tab->means.clone();
  tab->forward(at::randn({2, 8, 4, 3}, at::kDouble));
  EXPECT_TRUE(at::allclose(tab->means, before * 0.999 + tab->last_centres() * 0.001, 1e-14, 1e-14));
  // Evaluation uses the buffer as is and leaves it alone.
  tab->eval();
  const Tensor frozen = tab->means.clone();
  tab->forward(at::randn({1, 8, 5, 5}, at::kDouble));
  EXPECT_TRUE(at::equal(tab->means, frozen));
  EXPECT_TRUE(at::equal(tab->last_centres(), frozen));
}

TEST(OverlappingPatches, MergingTheDividedMapGivesItBack) {
  for (const auto& [h, w, ps] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {28, 28, 28}, {30, 28, 28}, {55, 40, 28}, {64, 64, 16}, {17, 33, 16}}) {
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w) + " ps " + std::to_string(ps));
    const Tensor x = at::randn({2, 3, h, w}, at::kDouble);
    models::PatchGrid grid;
    const Tensor patches = models::divide_into_patches(x, ps, grid);
    EXPECT_EQ(patches.size(1), static_cast<int64_t>(grid.tops.size() * grid.lefts.size()));
    EXPECT_TRUE(at::allclose(models::merge_patches(patches, grid, h, w), x, 1e-14, 1e-14));
    // A constant map stitches back constant (the official halving fails this at 55).
    const Tensor ones = at::ones({1, 1, h, w}, at::kDouble);
    EXPECT_TRUE(at::allclose(
        models::merge_patches(models::divide_into_patches(ones, ps, grid), grid, h, w), ones));
  }
  // The official offsets: step ps - 2, the last patch moved back to the border.
  EXPECT_EQ(models::patch_offsets(64, 16, 14), (std::vector<int64_t>{0, 14, 28, 42, 48}));
  EXPECT_EQ(models::patch_offsets(30, 28, 26), (std::vector<int64_t>{0, 2}));
}

TEST(CATANet, BlocksMatchFiniteDifferencesInDouble) {
  TokenAggregationBlock tab(small_tab());
  tab->to(at::kDouble);
  {
    // Seeded centres (the first call's seeding depends on x without gradient, as the official
    // detach), then evaluation, where the centres are the fixed buffer.
    torch::NoGradGuard no_grad;
    tab->forward(at::randn({1, 8, 4, 5}, at::kDouble));
  }
  tab->eval();
  Tensor x = at::randn({1, 8, 4, 5}, at::kDouble).requires_grad_(true);
  {
    const Tensor weight = at::randn({1, 8, 4, 5}, at::kDouble);
    auto loss = [&] { return (tab->forward(x) * weight).sum(); };
    testing::expect_gradients_match_finite_differences(
        loss, {x, tab->iasa_to_q->weight, tab->irca_to_v->weight, tab->mlp_fn->depthwise->weight});
  }
  models::LocalRegionAttention lrsa(8, 4, 12, 2);
  lrsa->to(at::kDouble);
  Tensor y = at::randn({1, 8, 7, 9}, at::kDouble).requires_grad_(true);
  const Tensor weight = at::randn({1, 8, 7, 9}, at::kDouble);
  auto loss = [&] { return (lrsa->forward(y, 6) * weight).sum(); };
  testing::expect_gradients_match_finite_differences(
      loss, {y, lrsa->to_k->weight, lrsa->ffn->fc1->weight});
}

}  // namespace
}  // namespace vitrine
