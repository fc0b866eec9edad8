// The RetinaNet detector as a zoo model: mmdetection's parameter count (37.74M trainable with
// the stem and layer1 frozen), mmdet's module names, the flat output's layout against the
// head's per-level outputs, anchors matching the levels forward produces, frozen stages and
// norm_eval, and A3-FPN's extra P6/P7 levels.
#include "models/detectors/retinanet_detector.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "config/view.h"
#include "models/checkpoint/state_dict.h"
#include "models/registry.h"

namespace vitrine::models {
namespace {

ModelPtr build(config::Node node) {
  return ModelRegistry::builtin().create(config::ConfigView(node, "model"));
}

config::Node nano(const std::string& neck) {
  config::Node node = config::Node::dict();
  node.set("name", config::Node("retinanet_r50_fpn"));
  config::Node backbone = config::Node::dict();
  backbone.set("name", config::Node("resnet18"));
  backbone.set("base_width", config::Node(int64_t{32}));  // A3-FPN's groups of 16 channels
  node.set("backbone", backbone);
  node.set("neck", config::Node(neck));
  node.set("num_classes", config::Node(int64_t{3}));
  node.set("neck_channels", config::Node(int64_t{32}));
  node.set("head_channels", config::Node(int64_t{16}));
  node.set("stacked_convs", config::Node(int64_t{1}));
  return node;
}

int64_t trainable(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

TEST(RetinaNetDetector, Mmdetection_R50_FPN_CountsAndNames) {
  config::Node node = config::Node::dict();
  node.set("name", config::Node("retinanet_r50_fpn"));
  ModelPtr all = build(node);
  // ResNet-50 without fc + RetinaNet's FPN + the head for 80 classes.
  EXPECT_EQ(count_parameters(*all), 23508032 + 7997440 + 6463220);
  node.set("frozen_stages", config::Node(int64_t{1}));
  ModelPtr frozen = build(node);
  EXPECT_EQ(trainable(*frozen), 37743348);  // mmdet's "37.74 M"
  const auto params = frozen->named_parameters();
  for (const char* name : {"backbone.layer4.2.conv3.weight", "neck.lateral_convs.0.conv.weight",
                           "neck.fpn_convs.4.conv.weight", "bbox_head.cls_convs.3.conv.weight",
                           "bbox_head.retina_cls.weight", "bbox_head.retina_reg.bias"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_FALSE(params.contains("backbone.fc.weight"));
  EXPECT_FALSE(params["backbone.layer1.0.conv1.weight"].requires_grad());
  EXPECT_TRUE(params["backbone.layer2.0.conv1.weight"].requires_grad());
}

TEST(RetinaNetDetector, FlatOutputIsTheHeadOutputsInAnchorOrder) {
  torch::manual_seed(0);
  for (const std::string neck : {"fpn", "a3fpn_lite"}) {
    SCOPED_TRACE(neck);
    auto model = std::dynamic_pointer_cast<RetinaNetDetector>(build(nano(neck)));
    ASSERT_TRUE(model);
    model->eval();
    const at::Tensor images = torch::randn({2, 3, 96, 64});
    const RetinaOutputs per_level = model->head_outputs(images);
    ASSERT_EQ(per_level.cls.size(), 5u);
    const at::Tensor flat = model->forward(images);
    const std::vector<at::Tensor> anchors = model->anchors(96, 64);
    int64_t total = 0;
    for (size_t l = 0; l < 5; ++l) {
      // Level sizes 12x8, 6x4, 3x2, 2x1, 1x1; nine anchors per cell.
      const int64_t cells = per_level.cls[l].size(2) * per_level.cls[l].size(3);
      EXPECT_EQ(anchors[l].size(0), cells * 9);
      total += cells * 9;
    }
    ASSERT_EQ(flat.sizes(), (std::vector<int64_t>{2, total, 3 + 4}));
    // Anchor k of cell (y, x) at level 1, image 1: class c is channel k * 3 + c of that cell.
    int64_t offset = per_level.cls[0].size(2) * per_level.cls[0].size(3) * 9;
    const int64_t y = 1, x = 2, k = 7, w = per_level.cls[1].size(3);
    const int64_t row = offset + (y * w + x) * 9 + k;
    for (int64_t c = 0; c < 3; ++c)
      EXPECT_EQ(flat[1][row][c].item<float>(), per_level.cls[1][1][k * 3 + c][y][x].item<float>());
    for (int64_t d = 0; d < 4; ++d)
      EXPECT_EQ(flat[1][row][3 + d].item<float>(),
                per_level.reg[1][1][k * 4 + d][y][x].item<float>());
    // split_flat undoes the flattening exactly.
    const RetinaOutputs back = model->split_flat(flat, 96, 64);
    for (size_t l = 0; l < 5; ++l) {
      EXPECT_TRUE(torch::equal(back.cls[l], per_level.cls[l]));
      EXPECT_TRUE(torch::equal(back.reg[l], per_level.reg[l]));
    }
    EXPECT_THROW(model->split_flat(flat, 128, 64), c10::Error);
  }
}

TEST(RetinaNetDetector, FrozenStagesAndNormEvalStayInEvalMode) {
  config::Node node = nano("fpn");
  node.set("frozen_stages", config::Node(int64_t{2}));
  node.set("norm_eval", config::Node(false));
  auto model = build(node);
  model->train();
  const auto children = model->named_modules();
  EXPECT_FALSE(children["backbone.layer2.0.bn1"]->is_training());
  EXPECT_FALSE(children["backbone.bn1"]->is_training());
  EXPECT_TRUE(children["backbone.layer3.0.bn1"]->is_training());
  EXPECT_TRUE(children["neck"]->is_training());
  node.set("norm_eval", config::Node(true));
  auto norm_eval = build(node);
  norm_eval->train();
  EXPECT_FALSE(norm_eval->named_modules()["backbone.layer4.1.bn2"]->is_training());
  EXPECT_TRUE(norm_eval->named_modules()["bbox_head"]->is_training());

  // Only ResNet-style backbones have the stages to freeze; other settings are named.
  config::Node nat = nano("fpn");
  config::Node dinat = config::Node::dict();
  dinat.set("name", config::Node("dinat_nano"));
  nat.set("backbone", dinat);
  nat.set("frozen_stages", config::Node(int64_t{1}));
  EXPECT_THROW(build(nat), std::exception);
  EXPECT_THROW(build(nano("bifpn")), std::exception);
  EXPECT_THROW(model->forward(torch::randn({1, 3, 100, 64})), c10::Error);  // not /32
}

// Issue 26 (1): the official mmdetection A3FPN with RetinaNet (end_level 6, num_outs 5) builds
// P6 as `conv44` and P7 as `extra_convs.0`: each a 3x3 stride-2 conv without bias, BatchNorm
// (SyncBN there) and GELU, on the level before; written out here with the module's weights.
// Issue 26 (1): the A3-FPN RetinaNet's state dict carries the official mmdetection names of the
// neck's levels (conv00 for the dropped P2, conv44 for P6, extra_convs.0 for P7) and round-trips
// strictly into a fresh detector that then computes the same outputs.
TEST(RetinaNetDetector, A3fpnStateDictHasTheOfficialNamesAndRoundTrips) {
  torch::manual_seed(8);
  ModelPtr source = build(nano("a3fpn_lite"));
  const auto state = source->named_parameters();
  const auto buffers = source->named_buffers();
  for (const char* name :
       {"neck.conv00.conv.weight", "neck.conv33.norm.weight", "neck.conv44.conv.weight",
        "neck.extra_convs.0.conv.weight", "neck.extra_convs.0.norm.bias"})
    EXPECT_TRUE(state.contains(name)) << name;
  EXPECT_TRUE(buffers.contains("neck.conv44.norm.running_var"));
  for (const char* name : {"neck.conv44.conv.bias", "neck.extra_convs.1.conv.weight"})
    EXPECT_FALSE(state.contains(name)) << name;
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("a3fpn_retinanet_" + std::to_string(::getpid()) + ".pth"))
                               .string();
  checkpoint::save_state_dict(*source, path);
  torch::manual_seed(9);
  config::Node node = nano("a3fpn_lite");
  node.set("pretrained", path);  // strict
  ModelPtr loaded = build(node);
  std::filesystem::remove(path);
  source->eval();
  loaded->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor images = torch::randn({1, 3, 64, 64});
  EXPECT_TRUE(torch::equal(source->forward(images), loaded->forward(images)));
}

TEST(A3FPN, ExtraLevelsAreTheOfficialDetectorsConvNormGelu) {
  torch::manual_seed(2);
  A3FPNOptions o = A3FPNOptions::lite();
  o.in_channels = {32, 64, 128, 256};
  o.out_channels = 16;
  A3FPN plain(o);
  o.extra_levels = 2;
  A3FPN extra(o);
  EXPECT_EQ(count_parameters(*extra) - count_parameters(*plain), 2 * (16 * 16 * 9 + 2 * 16));
  const auto params = extra->named_parameters();
  const auto buffers = extra->named_buffers();
  for (const char* name :
       {"conv44.conv.weight", "conv44.norm.weight", "conv44.norm.bias", "extra_convs.0.conv.weight",
        "extra_convs.0.norm.weight", "extra_convs.0.norm.bias"})
    EXPECT_TRUE(params.contains(name)) << name;
  for (const char* name :
       {"conv44.conv.bias", "extra_convs.0.conv.bias", "extra_convs.1.conv.weight"})
    EXPECT_FALSE(params.contains(name)) << name;
  for (const char* name : {"conv44.norm.running_mean", "extra_convs.0.norm.running_var"})
    EXPECT_TRUE(buffers.contains(name)) << name;
  // Norm statistics away from (0, 1), so the eval-mode norm is visible.
  for (auto& b : extra->named_buffers())
    if (b.key().find("running_") != std::string::npos) b.value().uniform_(0.5, 1.5);
  extra->eval();
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> inputs;
  for (int64_t i = 0; i < 4; ++i) inputs.push_back(torch::randn({1, 32 << i, 32 >> i, 32 >> i}));
  const auto out = extra->forward(inputs);
  ASSERT_EQ(out.size(), 6u);
  auto conv_norm_gelu = [&](const at::Tensor& x, const std::string& prefix) {
    const at::Tensor y = at::conv2d(x, params[prefix + ".conv.weight"], {}, 2, 1);
    return at::gelu(at::batch_norm(y, params[prefix + ".norm.weight"],
                                   params[prefix + ".norm.bias"],
                                   buffers[prefix + ".norm.running_mean"],
                                   buffers[prefix + ".norm.running_var"], false, 0.1, 1e-5, false));
  };
  const at::Tensor p6 = conv_norm_gelu(out[3], "conv44");
  const at::Tensor p7 = conv_norm_gelu(p6, "extra_convs.0");
  EXPECT_TRUE(torch::allclose(out[4], p6, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(out[5], p7, 1e-5, 1e-6));
  EXPECT_EQ(out[5].sizes(), (std::vector<int64_t>{1, 16, 1, 1}));
}

}  // namespace
}  // namespace vitrine::models
