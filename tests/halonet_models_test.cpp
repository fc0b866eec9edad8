// timm's HaloNets on ByobNet: exact parameter counts (the structure replayed from
// timm/models/byoanet.py + byobnet.py; each rounds to the count timm lists), timm's
// parameter names, output shapes and the pyramid, and the input-size error.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "config/view.h"
#include "models/backbones/byobnet.h"
#include "models/registry.h"

namespace vitrine::models {
namespace {

ModelPtr create(const std::string& name, config::Node overrides = config::Node::dict()) {
  return ModelRegistry::builtin().get(name).create(config::ConfigView(overrides, "model"));
}

struct Count {
  const char* name;
  int64_t params;
};

class HaloNetParameterCount : public ::testing::TestWithParam<Count> {};

TEST_P(HaloNetParameterCount, MatchesTimm) {
  const Count& expected = GetParam();
  ModelPtr model = create(expected.name);
  EXPECT_EQ(count_parameters(*model), expected.params);
  // The registry's rounded figure (timm's listing, millions with two decimals).
  const double listed = ModelRegistry::builtin().get(expected.name).paper.params_m;
  EXPECT_NEAR(static_cast<double>(expected.params) / 1e6, listed, 0.005);
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, HaloNetParameterCount,
    ::testing::Values(Count{"halonet_h1", 8100056}, Count{"halonet26t", 12480288},
                      Count{"sehalonet33ts", 13691712}, Count{"halonet50ts", 22733280},
                      Count{"eca_halonext26ts", 10756885}, Count{"haloregnetz_b", 11680072}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(HaloNets, TimmParameterNames) {
  ModelPtr model = create("halonet26t");
  const auto params = model->named_parameters();
  const auto buffers = model->named_buffers();
  for (const char* name :
       {"stem.conv1.conv.weight", "stem.conv3.bn.weight", "stages.0.0.shortcut.conv.weight",
        "stages.0.0.conv2_kxk.conv.weight", "stages.2.1.self_attn.q.weight",
        "stages.2.1.self_attn.kv.weight", "stages.2.1.self_attn.pos_embed.height_rel",
        "stages.2.1.post_attn.weight", "stages.3.1.conv3_1x1.bn.bias", "head.fc.weight"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_TRUE(buffers.contains("stages.2.1.post_attn.running_mean"));
  EXPECT_FALSE(
      params.contains("stages.2.0.self_attn.q.weight"));  // stage 3 opens with a bottleneck

  ModelPtr regnet = create("haloregnetz_b");
  const auto rp = regnet->named_parameters();
  for (const char* name :
       {"stem.conv.weight", "stages.0.0.attn.fc1.weight", "final_conv.conv.weight",
        "stages.2.3.self_attn.q.weight", "stages.1.1.conv1_1x1.conv.weight"})
    EXPECT_TRUE(rp.contains(name)) << name;
  EXPECT_FALSE(rp.contains("stages.0.0.shortcut.conv.weight"));  // downsample ''
  EXPECT_TRUE(
      create("eca_halonext26ts")->named_parameters().contains("stages.0.0.attn.conv.weight"));
}

TEST(HaloNets, ForwardShapesAndPyramid) {
  config::Node o = config::Node::dict();
  o.set("num_classes", 7);
  ModelPtr model = create("halonet26t", o);
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({1, 3, 256, 256});
  const auto pyramid = model->forward_features(x);
  ASSERT_EQ(pyramid.size(), 4u);
  const std::vector<int64_t> sides{64, 32, 16, 8};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(pyramid[i].size(1), model->feature_channels()[i]);
    EXPECT_EQ(pyramid[i].size(2), sides[i]);
  }
  const at::Tensor logits = model->forward_head(pyramid.back());
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{1, 7}));
  EXPECT_TRUE(at::allclose(logits, model->forward(x)));
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
}

TEST(HaloNets, InputsTooSmallForTheBlocksAreAnError) {
  ModelPtr model = create("halonet26t");
  model->eval();
  torch::NoGradGuard no_grad;
  try {
    model->forward(at::randn({1, 3, 128, 128}));
    FAIL() << "a 128 input leaves 4x4 maps for 8x8 blocks";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("must be multiples of block_size 8"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vitrine::models
