// Segmentation inference: slide inference equals whole inference for a translation-equivariant
// model, flip TTA averages flipped predictions.
#include "train/segmentation_task.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace vitrine::train {
namespace {

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

}  // namespace
}  // namespace vitrine::train
