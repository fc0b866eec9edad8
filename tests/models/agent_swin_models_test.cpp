// Agent-Swin: exact parameter counts (the structure replayed from the official
// agent_swin.py and cfgs; each rounds to the paper's 29M / 50M / 88M), official parameter
// names, the stage attention types, output shapes, shifted-window masks, and size errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "config/view.h"
#include "core/error.h"
#include "models/backbones/agent_swin.h"
#include "models/registry.h"

namespace vitrine::models {
namespace {

ModelPtr create(const std::string& name, config::Node overrides = config::Node::dict()) {
  return ModelRegistry::builtin().get(name).create(config::ConfigView(overrides, "model"));
}

TEST(AgentSwin, ParameterCountsMatchTheOfficialModels) {
  const std::vector<std::pair<const char*, int64_t>> counts{
      {"agent_swin_t", 28902964}, {"agent_swin_s", 49666684}, {"agent_swin_b", 88095096}};
  for (const auto& [name, params] : counts) {
    SCOPED_TRACE(name);
    ModelPtr model = create(name);
    EXPECT_EQ(count_parameters(*model), params);
    EXPECT_NEAR(params / 1e6, ModelRegistry::builtin().get(name).paper.params_m, 0.5);
  }
}

TEST(AgentSwin, OfficialNamesAndAttentionTypes) {
  ModelPtr model = create("agent_swin_b");
  const auto params = model->named_parameters();
  for (const char* name :
       {"patch_embed.proj.weight", "patch_embed.norm.weight", "layers.0.blocks.0.attn.an_bias",
        "layers.0.blocks.1.attn.wa_bias", "layers.0.downsample.reduction.weight",
        "layers.2.blocks.1.attn.dwc.weight",                    // M2: blocks 0-1 agent
        "layers.2.blocks.2.attn.relative_position_bias_table",  // then window attention
        "layers.3.blocks.1.mlp.fc2.weight", "norm.weight", "head.weight"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_FALSE(params.contains("layers.2.blocks.2.attn.an_bias"));
  const auto buffers = model->named_buffers();
  // Stage 3 (14x14) of 7x7 windows shifts every other block; stage 4 (7x7) does not.
  EXPECT_TRUE(buffers.contains("layers.2.blocks.3.attn_mask"));
  EXPECT_FALSE(buffers.contains("layers.2.blocks.2.attn_mask"));
  EXPECT_FALSE(buffers.contains("layers.3.blocks.1.attn_mask"));
  EXPECT_EQ(buffers["layers.2.blocks.3.attn_mask"].sizes(), (std::vector<int64_t>{4, 49, 49}));
}

TEST(AgentSwin, ForwardShapesOnASmallImage) {
  config::Node o = config::Node::dict();
  o.set("img_size", 64);
  o.set("num_classes", 5);
  o.set("window_size", 16);  // agent blocks see 16x16 / 8x8 / 4x4 maps, B blocks 2x2
  ModelPtr model = create("agent_swin_t", o);
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 64, 64});
  const auto pyramid = model->forward_features(x);
  ASSERT_EQ(pyramid.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(pyramid[i].size(1), 96 << i);
    EXPECT_EQ(pyramid[i].size(2), 16 >> i);
  }
  const at::Tensor logits = model->forward(x);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 5}));
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
}

TEST(AgentSwin, WrongImageSizeAndBadAttentionTypesAreErrors) {
  config::Node o = config::Node::dict();
  o.set("img_size", 64);
  o.set("window_size", 16);
  ModelPtr model = create("agent_swin_t", o);
  try {
    model->forward(at::randn({1, 3, 96, 96}));
    FAIL() << "96x96 accepted by a model built for 64";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("built for img_size 64"), std::string::npos) << e.what();
  }
  o.set("attn_type", "AAMB");
  EXPECT_THROW(create("agent_swin_t", o), ConfigError);
  o.set("attn_type", "AAQB");
  EXPECT_THROW(create("agent_swin_t", o), ConfigError);
}

// Agent-DeiT: counts replayed from the official agent_deit.py and cfgs (paper 6.0M / 22.7M /
// 87.2M; for -S the official config gives 22.65M, which the paper prints as 22.7).
TEST(AgentDeiT, ParameterCountsNamesAndShapes) {
  const std::vector<std::pair<const char*, int64_t>> counts{
      {"agent_deit_t", 6015640}, {"agent_deit_s", 22647112}, {"agent_deit_b", 87204904}};
  for (const auto& [name, params] : counts) {
    SCOPED_TRACE(name);
    EXPECT_EQ(count_parameters(*create(name)), params);
    EXPECT_NEAR(params / 1e6, ModelRegistry::builtin().get(name).paper.params_m, 0.06);
  }
  ModelPtr base = create("agent_deit_b");
  const auto params = base->named_parameters();
  for (const char* name :
       {"patch_embed.proj.weight", "cls_token", "pos_embed", "blocks.3.attn.ac_bias",
        "blocks.3.attn.ca_bias", "blocks.3.attn.dwc.bias", "blocks.4.attn.qkv.weight",
        "blocks.11.mlp.fc1.bias", "norm.weight", "head.weight"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_FALSE(params.contains("blocks.4.attn.an_bias"));  // agent_layer=4
  EXPECT_EQ(params["blocks.0.attn.an_bias"].sizes(), (std::vector<int64_t>{12, 81, 7, 7}));

  config::Node o = config::Node::dict();
  o.set("img_size", 64);
  o.set("num_classes", 3);
  o.set("agent_num",
        config::List{config::Node(4), config::Node(4), config::Node(4), config::Node(4)});
  ModelPtr small = create("agent_deit_t", o);
  small->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 64, 64});
  EXPECT_EQ(small->forward(x).sizes(), (std::vector<int64_t>{2, 3}));
  const auto levels = small->forward_features(x);
  ASSERT_EQ(levels.size(), 1u);
  EXPECT_EQ(levels[0].sizes(), (std::vector<int64_t>{2, 192, 4, 4}));
  EXPECT_THROW(small->forward(at::randn({1, 3, 48, 48})), c10::Error);
}

// Agent-PVT: counts replayed from the official agent_pvt.py and cfgs (paper 11.6M / 20.6M /
// 35.9M / 48.7M).
TEST(AgentPVT, ParameterCountsNamesAndShapes) {
  const std::vector<std::pair<const char*, int64_t>> counts{{"agent_pvt_t", 11570352},
                                                            {"agent_pvt_s", 20635066},
                                                            {"agent_pvt_m", 35921746},
                                                            {"agent_pvt_l", 48738180}};
  for (const auto& [name, params] : counts) {
    SCOPED_TRACE(name);
    EXPECT_EQ(count_parameters(*create(name)), params);
    EXPECT_NEAR(params / 1e6, ModelRegistry::builtin().get(name).paper.params_m, 0.05);
  }
  ModelPtr tiny = create("agent_pvt_t");
  const auto params = tiny->named_parameters();
  for (const char* name : {"patch_embed1.proj.weight", "patch_embed4.norm.bias", "pos_embed1",
                           "block1.0.attn.q.weight", "block1.0.attn.kv.weight",
                           "block4.1.attn.an_bias", "block2.1.mlp.fc1.weight", "head.weight"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_FALSE(params.contains("block1.0.attn.qkv.weight"));
  EXPECT_EQ(params["pos_embed1"].sizes(), (std::vector<int64_t>{1, 3136, 64}));

  config::Node o = config::Node::dict();
  o.set("img_size", 64);
  o.set("num_classes", 4);
  o.set("agent_num",
        config::List{config::Node(4), config::Node(4), config::Node(4), config::Node(1)});
  ModelPtr small = create("agent_pvt_t", o);
  small->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 64, 64});
  const auto pyramid = small->forward_features(x);
  ASSERT_EQ(pyramid.size(), 4u);
  EXPECT_EQ(pyramid[3].sizes(), (std::vector<int64_t>{2, 512, 2, 2}));
  EXPECT_EQ(small->forward(x).sizes(), (std::vector<int64_t>{2, 4}));
}

// PVT's spatial reduction in the agent blocks (agent_sr_ratios): a sr x sr strided conv +
// LayerNorm per block, agent->key biases at the reduced size.
TEST(AgentPVT, SpatialReductionAddsTheReductionLayers) {
  config::Node o = config::Node::dict();
  o.set("agent_sr_ratios",
        config::List{config::Node(8), config::Node(4), config::Node(2), config::Node(1)});
  ModelPtr reduced = create("agent_pvt_t", o);
  const auto params = reduced->named_parameters();
  EXPECT_EQ(params["block1.0.attn.sr.weight"].sizes(), (std::vector<int64_t>{64, 64, 8, 8}));
  EXPECT_EQ(params["block3.1.attn.norm.weight"].sizes(), (std::vector<int64_t>{320}));
  EXPECT_EQ(params["block1.0.attn.ah_bias"].sizes(), (std::vector<int64_t>{1, 1, 9, 7, 1}));
  EXPECT_FALSE(params.contains("block4.0.attn.sr.weight"));
  // Per block: conv d*d*sr^2 + d, LayerNorm 2d; ah/aw biases lose heads*agents*(side - side/sr)
  // each. Tiny: 2 blocks per stage, dims 64/128/320, heads 1/2/5, agents 9/16/49, sides
  // 56/28/14.
  int64_t added = 0;
  const int64_t dims[3] = {64, 128, 320}, heads[3] = {1, 2, 5}, agents[3] = {9, 16, 49},
                sides[3] = {56, 28, 14}, srs[3] = {8, 4, 2};
  for (int s = 0; s < 3; ++s)
    added += 2 * (dims[s] * dims[s] * srs[s] * srs[s] + 3 * dims[s] -
                  2 * heads[s] * agents[s] * (sides[s] - sides[s] / srs[s]));
  EXPECT_EQ(count_parameters(*reduced), 11570352 + added);

  o.set("img_size", 64);
  o.set("agent_num",
        config::List{config::Node(4), config::Node(4), config::Node(4), config::Node(1)});
  ModelPtr small = create("agent_pvt_t", o);
  small->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor logits = small->forward(at::randn({2, 3, 64, 64}));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 1000}));
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
  o.set("img_size", 96);
  o.set("agent_sr_ratios",
        config::List{config::Node(5), config::Node(1), config::Node(1), config::Node(1)});
  EXPECT_THROW(create("agent_pvt_t", o), std::exception);  // 24 rows do not reduce by 5
}

}  // namespace
}  // namespace vitrine::models
