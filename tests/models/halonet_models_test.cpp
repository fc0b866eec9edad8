// timm's HaloNets on ByobNet: exact parameter counts (the structure replayed from
// timm/models/byoanet.py + byobnet.py; each rounds to the count timm lists), timm's
// parameter names, output shapes and the pyramid, and the input-size error.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

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
  double listed_tolerance_m = 0.005;  // timm lists two decimals; the HaloNet paper one (0.1)
};

class HaloNetParameterCount : public ::testing::TestWithParam<Count> {};

TEST_P(HaloNetParameterCount, MatchesTimm) {
  const Count& expected = GetParam();
  ModelPtr model = create(expected.name);
  EXPECT_EQ(count_parameters(*model), expected.params);
  // The registry's rounded figure (timm's listing, millions with two decimals).
  const double listed = ModelRegistry::builtin().get(expected.name).paper.params_m;
  EXPECT_NEAR(static_cast<double>(expected.params) / 1e6, listed, expected.listed_tolerance_m);
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, HaloNetParameterCount,
    ::testing::Values(Count{"halonet_h1", 8100056}, Count{"halonet26t", 12480288},
                      Count{"sehalonet33ts", 13691712}, Count{"halonet50ts", 22733280},
                      Count{"eca_halonext26ts", 10756885}, Count{"haloregnetz_b", 11680072},
                      Count{"halo2botnet50ts_256", 22635360},
                      Count{"lamhalobotnet50ts_256", 22569824},
                      // The paper's family (replayed with r_v widening the values only).
                      Count{"halonet_h0", 5500952, 0.1}, Count{"halonet_h2", 9404312, 0.1},
                      Count{"halonet_h3", 11841304, 0.1}, Count{"halonet_h4", 19101976, 0.1},
                      Count{"halonet_h5", 30717272, 0.1}, Count{"halonet_h6", 43456792, 0.1},
                      Count{"halonet_h7", 67433240, 0.1}),
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

TEST(HaloNets, BottleneckAndLambdaHybridsUseTimmNames) {
  ModelPtr model = create("lamhalobotnet50ts_256");
  const auto params = model->named_parameters();
  const std::map<std::string, std::vector<int64_t>> want{
      {"stages.1.1.self_attn.qkv.weight", {112, 128, 1, 1}},
      {"stages.1.1.self_attn.conv_lambda.weight", {16, 1, 13, 13, 1}},
      {"stages.1.3.self_attn.norm_q.weight", {64}},
      {"stages.2.1.self_attn.kv.weight", {512, 256, 1, 1}},
      {"stages.3.1.self_attn.qkv.weight", {1536, 512, 1, 1}},
      {"stages.3.1.self_attn.pos_embed.height_rel", {15, 128}},
      {"stem.conv3.conv.weight", {64, 32, 3, 3}}};
  for (const auto& [name, shape] : want) {
    ASSERT_TRUE(params.contains(name)) << name;
    EXPECT_EQ(params[name].sizes().vec(), shape) << name;
  }
  EXPECT_TRUE(model->named_buffers().contains("stages.1.1.self_attn.norm_v.running_mean"));
  EXPECT_FALSE(params.contains("stages.3.0.self_attn.qkv.weight"));  // a strided bottleneck

  // img_size sizes the bottleneck attention's tables (8x8 at 256, 16x16 at 512).
  config::Node o = config::Node::dict();
  o.set("img_size", 512);
  EXPECT_EQ(create("halo2botnet50ts_256", o)
                ->named_parameters()["stages.3.1.self_attn.pos_embed.width_rel"]
                .size(0),
            31);
  // r_v widens values and the attention output only (H5: r_v 2.5, r_b 2).
  const auto h5 = create("halonet_h5")->named_parameters();
  EXPECT_EQ(h5["stages.0.0.self_attn.q.weight"].sizes().vec(),
            (std::vector<int64_t>{64, 64, 1, 1}));
  EXPECT_EQ(h5["stages.0.0.self_attn.kv.weight"].sizes().vec(),
            (std::vector<int64_t>{64 + 160, 64, 1, 1}));
  EXPECT_EQ(h5["stages.0.0.post_attn.weight"].size(0), 160);
  EXPECT_EQ(h5["stages.0.0.conv3_1x1.conv.weight"].sizes().vec(),
            (std::vector<int64_t>{128, 160, 1, 1}));
  EXPECT_EQ(h5["final_conv.conv.weight"].size(0), 1536);
}

TEST(HaloNets, BottleneckHybridRunsAtItsSizeOnly) {
  config::Node o = config::Node::dict();
  o.set("num_classes", 5);
  ModelPtr model = create("halo2botnet50ts_256", o);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto pyramid = model->forward_features(at::randn({1, 3, 256, 256}));
  ASSERT_EQ(pyramid.size(), 4u);
  EXPECT_EQ(pyramid[3].sizes(), (std::vector<int64_t>{1, 2048, 8, 8}));
  EXPECT_EQ(model->forward_head(pyramid[3]).sizes(), (std::vector<int64_t>{1, 5}));
  try {
    model->forward(at::randn({1, 3, 384, 384}));
    FAIL() << "a model built for 256 ran at 384";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("built for a 8x8 feature map, got 12x12"),
              std::string::npos)
        << e.what();
  }
  // A model without bottleneck attention has no fixed size, so no img_size key.
  o.set("img_size", 256);
  EXPECT_THROW(create("halonet26t", o), std::exception);
}

}  // namespace
}  // namespace vitrine::models
