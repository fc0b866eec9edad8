// DuoFormer: exact parameter counts of our reading of the official model (R50, 4 scales,
// 768 wide, 12 blocks: 139,990,594 with the random scale token and 2 classes — the paper's
// ~140M), the official module names, the region grouping of each backbone level (layer3's
// 2x2 in the official column-major order, layer2's 4x4 row-major), and a forward pass.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "config/view.h"
#include "models/backbones/duoformer.h"
#include "models/registry.h"

namespace vitrine::models {
namespace {

ModelPtr create(const std::string& name, config::Node overrides = config::Node::dict()) {
  return ModelRegistry::builtin().get(name).create(config::ConfigView(overrides, "model"));
}

TEST(DuoFormer, ParameterCountsAndNames) {
  config::Node o = config::Node::dict();
  o.set("num_classes", 2);
  ModelPtr random = create("duoformer_r50", o);
  EXPECT_EQ(count_parameters(*random), 139990594);
  ModelPtr channel = create("duoformer_r50_channel", o);
  EXPECT_EQ(count_parameters(*channel), 186006338);
  const auto params = channel->named_parameters();
  for (const char* name :
       {"resnet_projector.0.weight", "resnet_projector.1.weight",
        "resnet_projector.4.0.conv1.weight", "resnet_projector.7.2.bn3.bias",
        "projection.proj_heads0.weight", "projection.proj_heads3.bias", "chann_proj1.conv2.weight",
        "chann_proj2.conv1.bias", "chann_proj_all.nConvs.3.norm.weight",
        "vision_transformer.cls_token", "vision_transformer.pos_embed",
        "vision_transformer.pos_embed_for_scale", "vision_transformer.blocks.11.attn.qkv1.weight",
        "vision_transformer.blocks.0.attn.proj.bias", "vision_transformer.blocks.0.ls1.gamma",
        "vision_transformer.norm.weight", "vision_transformer.head.weight"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_EQ(params["vision_transformer.pos_embed_for_scale"].sizes(),
            (std::vector<int64_t>{1, 1, 86, 768}));
  EXPECT_TRUE(random->named_parameters().contains("vision_transformer.cls_token1"));
}

TEST(DuoFormer, RegionTokensFollowTheOfficialGrouping) {
  config::Node o = config::Node::dict();
  o.set("img_size", 64);  // a 2x2 grid of regions
  o.set("embed_dim", 32);
  o.set("num_heads", 4);
  o.set("depth", 1);
  o.set("scales", 3);
  o.set("num_classes", 3);
  auto model = std::dynamic_pointer_cast<DuoFormer>(create("duoformer_r50", o));
  ASSERT_TRUE(model);
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({1, 3, 64, 64});
  const at::Tensor tokens = model->region_tokens(x);
  ASSERT_EQ(tokens.sizes(), (std::vector<int64_t>{1, 4, 22, 32}));
  const auto f = model->forward_features(x);
  auto project = [&](int level) {
    auto conv = model->named_modules()["projection.proj_heads" + std::to_string(level)]
                    ->as<torch::nn::Conv2d>();
    return conv->forward(f[level])[0];  // [D, side, side]
  };
  const at::Tensor p3 = project(3), p2 = project(2), p1 = project(1);
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 2; ++c) {
      const at::Tensor t = tokens[0][r * 2 + c];  // [22, D]
      EXPECT_TRUE(at::allclose(t[1], p3.select(1, r).select(1, c)));
      // layer3: (2r,2c), (2r+1,2c), (2r,2c+1), (2r+1,2c+1)
      EXPECT_TRUE(at::allclose(t[2], p2.select(1, 2 * r).select(1, 2 * c)));
      EXPECT_TRUE(at::allclose(t[3], p2.select(1, 2 * r + 1).select(1, 2 * c)));
      EXPECT_TRUE(at::allclose(t[4], p2.select(1, 2 * r).select(1, 2 * c + 1)));
      // layer2: row-major 4x4
      EXPECT_TRUE(at::allclose(t[6 + 1 * 4 + 2], p1.select(1, 4 * r + 1).select(1, 4 * c + 2)));
    }
  const at::Tensor logits = model->forward(x);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{1, 3}));
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
  EXPECT_THROW(model->forward(at::randn({1, 3, 96, 96})), c10::Error);
}

}  // namespace
}  // namespace vitrine::models
