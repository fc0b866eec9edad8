// UPerNet (EncoderDecoder with UPerHead and FCNHead): mmseg's parameter names, shapes with each
// neck, the official DiNAT-T configuration's size and FLOPs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "config/view.h"
#include "core/error.h"
#include "models/registry.h"
#include "models/segmentors/encoder_decoder.h"

namespace vitrine::models {
namespace {

// A UPerNet variant on a narrow ResNet-18 (base width 32: A3-FPN's groups of 16 channels).
config::Node small_upernet(const char* name, int64_t classes, int64_t channels) {
  config::Node node = config::Node::dict();
  node.set("name", config::Node(name));
  config::Node backbone = config::Node::dict();
  backbone.set("name", config::Node("resnet18"));
  backbone.set("base_width", config::Node(int64_t{32}));
  node.set("backbone", backbone);
  node.set("num_classes", config::Node(classes));
  node.set("channels", config::Node(channels));
  node.set("aux_channels", config::Node(int64_t{8}));
  return node;
}

// Issue 26: A3-FPN's own segmentation model (mmseg's A3FPNUperNetHead in the official
// Cityscapes config): the A3-FPN inside the decode head, bottom-up, on C2-C4 and the PPM
// output. The decode head's count replayed from the official code's shapes is 64,513,452 with
// 19 classes; the names are the official ones.
TEST(UPerNet, A3fpnHeadHasTheOfficialHeadsNamesAndCount) {
  config::Node node = config::Node::dict();
  node.set("name", config::Node("upernet_r50_a3fpn_head"));
  node.set("num_classes", config::Node(int64_t{19}));
  auto model = ModelRegistry::builtin().create(config::ConfigView(node, "model"));
  int64_t head = 0;
  for (const auto& p : model->named_parameters())
    if (p.key().rfind("decode_head.", 0) == 0) head += p.value().numel();
  EXPECT_EQ(head, 64513452);
  const auto params = model->named_parameters();
  const std::vector<std::pair<const char*, std::vector<int64_t>>> shapes = {
      {"decode_head.psp_modules.3.1.conv.weight", {512, 2048, 1, 1}},
      {"decode_head.bottleneck.conv.weight", {512, 4096, 3, 3}},
      {"decode_head.a3fpn.conv1.conv.weight", {256, 512, 1, 1}},
      {"decode_head.a3fpn.conv2.conv.weight", {256, 1024, 1, 1}},
      {"decode_head.a3fpn.conv00.conv.weight", {512, 256, 3, 3}},
      {"decode_head.a3fpn.conv33.conv.weight", {512, 512, 3, 3}},
      {"decode_head.a3fpn.a3fpn_body.a3fpn_2_level0.MCA.context_conv.conv.weight",
       {256, 512, 1, 1}},
      {"decode_head.fpn_bottleneck.conv.weight", {512, 2048, 3, 3}},
      {"decode_head.conv_seg.weight", {19, 512, 1, 1}}};
  for (const auto& [name, shape] : shapes) {
    ASSERT_TRUE(params.contains(name)) << name;
    EXPECT_EQ(params[name].sizes(), shape) << name;
  }
  for (const char* name :
       {"decode_head.lateral_convs.0.conv.weight", "decode_head.fpn_convs.0.conv.weight",
        "decode_head.a3fpn.conv0.conv.weight", "decode_head.a3fpn.conv3.conv.weight",
        "neck.conv1.conv.weight"})
    EXPECT_FALSE(params.contains(name)) << name;
  node.set("neck", config::Node("fpn"));
  EXPECT_THROW(ModelRegistry::builtin().create(config::ConfigView(node, "model")), ConfigError);
}

// The same head on a small backbone computes logits at a quarter of the input.
TEST(UPerNet, A3fpnHeadRunsOnASmallBackbone) {
  torch::manual_seed(4);
  config::Node node = small_upernet("upernet_r50_a3fpn_head", 5, 64);
  auto model = ModelRegistry::builtin().create(config::ConfigView(node, "model"));
  auto segmentor = std::dynamic_pointer_cast<EncoderDecoder>(model);
  ASSERT_TRUE(segmentor);
  model->eval();
  torch::NoGradGuard no_grad;
  const SegmentationLogits out = segmentor->forward_train(torch::randn({1, 3, 64, 96}));
  EXPECT_EQ(out.decode.sizes(), (std::vector<int64_t>{1, 5, 16, 24}));
  EXPECT_TRUE(out.decode.isfinite().all().item<bool>());
}

TEST(UPerNet, MmsegNamesAndShapes) {
  config::Node node = config::Node::dict();
  node.set("name", config::Node("upernet_r50"));
  node.set("num_classes", config::Node(int64_t{150}));
  auto model = ModelRegistry::builtin().create(config::ConfigView(node, "model"));
  const auto params = model->named_parameters();
  for (const char* name :
       {"decode_head.psp_modules.3.1.conv.weight", "decode_head.psp_modules.0.1.bn.running_mean",
        "decode_head.bottleneck.conv.weight", "decode_head.lateral_convs.2.conv.weight",
        "decode_head.fpn_convs.0.bn.weight", "decode_head.fpn_bottleneck.conv.weight",
        "decode_head.conv_seg.bias", "auxiliary_head.convs.0.conv.weight",
        "auxiliary_head.conv_seg.weight", "backbone.layer4.2.bn3.weight"})
    EXPECT_TRUE(params.contains(name) || model->named_buffers().contains(name)) << name;
  EXPECT_EQ(params["decode_head.bottleneck.conv.weight"].sizes(),
            (std::vector<int64_t>{512, 2048 + 4 * 512, 3, 3}));
  EXPECT_EQ(params["auxiliary_head.convs.0.conv.weight"].size(1), 1024);
  EXPECT_FALSE(params.contains("backbone.fc.weight"));

  config::Node small = small_upernet("upernet_r50", 4, 16);
  for (const char* neck : {"none", "fpn", "a3fpn_lite"}) {
    small.set("neck", config::Node(neck));
    small.set("neck_channels", config::Node(int64_t{16}));
    auto seg = std::dynamic_pointer_cast<EncoderDecoder>(
        ModelRegistry::builtin().create(config::ConfigView(small, "model")));
    ASSERT_TRUE(seg);
    seg->eval();
    const at::Tensor images = torch::randn({2, 3, 64, 96});
    EXPECT_EQ(seg->forward(images).sizes(), (std::vector<int64_t>{2, 4, 64, 96})) << neck;
    const SegmentationLogits logits = seg->forward_train(images);
    EXPECT_EQ(logits.decode.sizes(), (std::vector<int64_t>{2, 4, 16, 24})) << neck;
    EXPECT_EQ(logits.auxiliary.sizes(), (std::vector<int64_t>{2, 4, 4, 6})) << neck;
  }
  // The official DiNAT-T UPerNet: the dense backbone has a LayerNorm per level (norm0..norm3)
  // and no final norm or classifier; 57.7M parameters (the paper's 58M).
  config::Node dinat = config::Node::dict();
  dinat.set("name", config::Node("upernet_dinat_tiny"));
  auto tiny = ModelRegistry::builtin().create(config::ConfigView(dinat, "model"));
  EXPECT_EQ(count_parameters(*tiny), 57697106);
  const auto tiny_params = tiny->named_parameters();
  EXPECT_TRUE(tiny_params.contains("backbone.norm0.weight"));
  EXPECT_TRUE(tiny_params.contains("backbone.norm3.bias"));
  EXPECT_FALSE(tiny_params.contains("backbone.norm.weight"));
  EXPECT_FALSE(tiny_params.contains("backbone.head.weight"));
  EXPECT_EQ(tiny_params["decode_head.bottleneck.conv.weight"].size(1), 512 + 4 * 512);
  // Convolutions and attention are linear in the pixels, so four 512 x 512 crops cost about
  // what the repository's 934 GFLOPs at 2048 x 512 say (the PPM's pooled convs do not scale).
  EXPECT_NEAR(4 * tiny->flops(512) / 1e9, 934, 3);

  small.set("neck", config::Node("bifpn"));
  EXPECT_THROW(ModelRegistry::builtin().create(config::ConfigView(small, "model")), std::exception);
}

}  // namespace
}  // namespace vitrine::models
