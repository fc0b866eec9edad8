// Segmentation metrics on hand-worked label maps (dataset-level accumulation, ignore 255,
// classes with zero union out of the mean), slide inference equal to whole inference for a
// translation-equivariant model, flip TTA, UPerHead/FCNHead names and the segmentor's shapes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "config/view.h"
#include "models/registry.h"
#include "models/segmentors/encoder_decoder.h"
#include "train/seg_metrics.h"
#include "train/segmentation_task.h"

namespace vitrine::train {
namespace {

at::Tensor map(std::vector<int64_t> v, int64_t h, int64_t w) {
  return torch::tensor(v, torch::kLong).view({h, w});
}

TEST(SegmentationMeter, AccumulatesOverTheDatasetAsMmseg) {
  SegmentationMeter meter(3);
  // Image 1: one ignored pixel; image 2: all class 2.
  meter.add(map({0, 1, 1, 1, 2, 0}, 2, 3), map({0, 0, 1, 1, 2, 255}, 2, 3));
  meter.add(map({2, 0, 0, 0}, 2, 2), map({2, 2, 2, 2}, 2, 2));
  // intersect [1, 2, 2], predicted [4, 3, 2], labelled [2, 2, 5], union [5, 3, 5].
  const auto iou = meter.iou(), acc = meter.acc();
  EXPECT_NEAR(iou[0], 1.0 / 5, 1e-12);
  EXPECT_NEAR(iou[1], 2.0 / 3, 1e-12);
  EXPECT_NEAR(iou[2], 2.0 / 5, 1e-12);
  EXPECT_NEAR(meter.miou(), (0.2 + 2.0 / 3 + 0.4) / 3, 1e-12);
  EXPECT_NEAR(acc[0], 0.5, 1e-12);
  EXPECT_NEAR(acc[1], 1.0, 1e-12);
  EXPECT_NEAR(acc[2], 0.4, 1e-12);
  EXPECT_NEAR(meter.macc(), (0.5 + 1.0 + 0.4) / 3, 1e-12);
  EXPECT_NEAR(meter.aacc(), 5.0 / 9, 1e-12);
  // Per-image averaging would give another number: class 2 has IoU 1 in image 1 and 1/4 in
  // image 2 (mean 0.625), but 2/5 over the dataset.
  EXPECT_GT(std::abs(iou[2] - (1.0 + 0.25) / 2), 0.2);
  EXPECT_NE(meter.table({"a", "b", "c"}).find("| b               | 66.67 | 100.00 |"),
            std::string::npos)
      << meter.table({"a", "b", "c"});
}

TEST(SegmentationMeter, ClassesWithoutUnionLeaveTheMean) {
  SegmentationMeter meter(4);
  meter.add(map({0, 1, 1, 0}, 2, 2), map({0, 1, 0, 0}, 2, 2));
  EXPECT_TRUE(std::isnan(meter.iou()[2]));
  EXPECT_TRUE(std::isnan(meter.iou()[3]));
  EXPECT_NEAR(meter.miou(), (2.0 / 3 + 1.0 / 2) / 2, 1e-12);
  // A class predicted but never labelled has a union: IoU 0, in the mean; Acc NaN.
  meter.add(map({3}, 1, 1), map({1}, 1, 1));
  EXPECT_EQ(meter.iou()[3], 0.0);
  EXPECT_TRUE(std::isnan(meter.acc()[3]));
  EXPECT_THROW(meter.add(map({0, 1}, 1, 2), map({0, 7}, 1, 2)), c10::Error);
  EXPECT_THROW(meter.add(map({0, 1}, 1, 2), map({0, 1, 1}, 1, 3)), c10::Error);
}

TEST(SegmentationInference, SlideEqualsWholeForATranslationEquivariantModel) {
  torch::manual_seed(0);
  // A pointwise (1x1) conv: every output pixel depends on its own input pixel only, so any
  // window sees exactly what the whole image sees there.
  const at::Tensor weight = torch::randn({5, 3, 1, 1}), bias = torch::randn({5});
  const ModelForward pointwise = [&](const at::Tensor& x) { return at::conv2d(x, weight, bias); };
  const at::Tensor image = torch::randn({1, 3, 37, 53});
  SegInferenceOptions whole;
  const at::Tensor expected = segmentation_inference(pointwise, image, 5, 50, 70, whole);
  EXPECT_TRUE(torch::allclose(expected.sum(1), torch::ones({1, 50, 70}), 1e-5, 1e-6));
  for (auto [crop, stride] :
       std::vector<std::pair<int64_t, int64_t>>{{16, 11}, {20, 20}, {64, 8}}) {
    SegInferenceOptions slide;
    slide.mode = "slide";
    slide.crop_h = slide.crop_w = crop;
    slide.stride_h = slide.stride_w = stride;
    const at::Tensor got = segmentation_inference(pointwise, image, 5, 50, 70, slide);
    EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6)) << crop << "/" << stride;
  }
  SegInferenceOptions flip = whole;
  flip.flip = true;
  EXPECT_TRUE(torch::allclose(segmentation_inference(pointwise, image, 5, 50, 70, flip), expected,
                              1e-5, 1e-6));
  // A model that is not flip-equivariant gives another answer under flip TTA.
  const ModelForward shifted = [&](const at::Tensor& x) {
    return at::conv2d(at::constant_pad_nd(x, {1, 0}), weight, bias).narrow(3, 0, x.size(3));
  };
  EXPECT_FALSE(torch::allclose(segmentation_inference(shifted, image, 5, 50, 70, flip),
                               segmentation_inference(shifted, image, 5, 50, 70, whole), 1e-4,
                               1e-5));
}

TEST(UPerNet, MmsegNamesAndShapes) {
  config::Node node = config::Node::dict();
  node.set("name", config::Node("upernet_r50"));
  node.set("num_classes", config::Node(int64_t{150}));
  auto model = models::ModelRegistry::builtin().create(config::ConfigView(node, "model"));
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

  config::Node small = config::Node::dict();
  small.set("name", config::Node("upernet_r50"));
  config::Node backbone = config::Node::dict();
  backbone.set("name", config::Node("resnet18"));
  backbone.set("base_width", config::Node(int64_t{32}));  // A3-FPN's groups of 16 channels
  small.set("backbone", backbone);
  small.set("num_classes", config::Node(int64_t{4}));
  small.set("channels", config::Node(int64_t{16}));
  small.set("aux_channels", config::Node(int64_t{8}));
  for (const char* neck : {"none", "fpn", "a3fpn_lite"}) {
    small.set("neck", config::Node(neck));
    small.set("neck_channels", config::Node(int64_t{16}));
    auto seg = std::dynamic_pointer_cast<models::EncoderDecoder>(
        models::ModelRegistry::builtin().create(config::ConfigView(small, "model")));
    ASSERT_TRUE(seg);
    seg->eval();
    const at::Tensor images = torch::randn({2, 3, 64, 96});
    EXPECT_EQ(seg->forward(images).sizes(), (std::vector<int64_t>{2, 4, 64, 96})) << neck;
    const models::SegmentationLogits logits = seg->forward_train(images);
    EXPECT_EQ(logits.decode.sizes(), (std::vector<int64_t>{2, 4, 16, 24})) << neck;
    EXPECT_EQ(logits.auxiliary.sizes(), (std::vector<int64_t>{2, 4, 4, 6})) << neck;
  }
  // The official DiNAT-T UPerNet: the dense backbone has a LayerNorm per level (norm0..norm3)
  // and no final norm or classifier; 57.7M parameters (the paper's 58M).
  config::Node dinat = config::Node::dict();
  dinat.set("name", config::Node("upernet_dinat_tiny"));
  auto tiny = models::ModelRegistry::builtin().create(config::ConfigView(dinat, "model"));
  EXPECT_EQ(models::count_parameters(*tiny), 57697106);
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
  EXPECT_THROW(models::ModelRegistry::builtin().create(config::ConfigView(small, "model")),
               std::exception);
}

}  // namespace
}  // namespace vitrine::train
