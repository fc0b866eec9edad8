// mmdetection's FPN: parameter counts of the R50 configurations (Mask R-CNN's neck is the
// "3.3M" A3-FPN is compared with), mmdet's names, and the forward against the computation
// written out level by level (laterals, nearest top-down sums at odd sizes, output convs, max-pool
// or conv extra levels).
#include "models/necks/fpn.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/registry.h"

namespace vitrine::models {
namespace {

TEST(FPN, ParameterCountsAndNamesOfTheR50Configs) {
  FPNOptions mask_rcnn;
  mask_rcnn.in_channels = {256, 512, 1024, 2048};
  FPN neck(mask_rcnn);
  EXPECT_EQ(count_parameters(*neck), 3344384);  // 0.98M laterals + 2.36M output convs
  const auto params = neck->named_parameters();
  EXPECT_EQ(params["lateral_convs.3.conv.weight"].sizes().vec(),
            (std::vector<int64_t>{256, 2048, 1, 1}));
  EXPECT_EQ(params["fpn_convs.0.conv.weight"].sizes().vec(),
            (std::vector<int64_t>{256, 256, 3, 3}));
  EXPECT_TRUE(params.contains("fpn_convs.3.conv.bias"));

  FPNOptions retinanet = mask_rcnn;  // P3-P7 from C3-C5, P6 on the C5 input
  retinanet.start_level = 1;
  retinanet.add_extra_convs = "on_input";
  FPN retina(retinanet);
  EXPECT_EQ(count_parameters(*retina), 918272 + 1770240 + 4718848 + 590080);
  EXPECT_EQ(retina->named_parameters()["fpn_convs.3.conv.weight"].size(1), 2048);
}

TEST(FPN, ForwardMatchesTheLevelByLevelComputation) {
  for (const std::string extra : {"", "on_input", "on_lateral", "on_output"}) {
    SCOPED_TRACE("extra convs '" + extra + "'");
    FPNOptions o;
    o.in_channels = {2, 3, 5, 7};
    o.out_channels = 4;
    o.num_outs = 6;
    o.add_extra_convs = extra;
    o.relu_before_extra_convs = extra == "on_output";
    FPN neck(o);
    neck->to(at::kDouble);
    torch::NoGradGuard no_grad;
    const std::vector<int64_t> sides{33, 17, 9, 5};  // odd sizes: upsampling to exact sizes
    std::vector<at::Tensor> x;
    for (size_t i = 0; i < 4; ++i)
      x.push_back(at::randn({2, o.in_channels[i], sides[i], sides[i]}, at::kDouble));
    const auto outs = neck->forward(x);
    ASSERT_EQ(outs.size(), 6u);
    auto conv = [](const torch::nn::Conv2d& c, const at::Tensor& t, int64_t stride, int64_t pad) {
      return at::conv2d(t, c->weight, c->bias, {stride, stride}, {pad, pad});
    };
    std::vector<at::Tensor> lat(4);
    for (int i = 0; i < 4; ++i) lat[i] = conv(neck->lateral_convs[i], x[i], 1, 0);
    for (int i = 3; i > 0; --i) {
      // Nearest: output pixel y reads floor(y * in / out).
      const int64_t out = sides[i - 1], in = sides[i];
      const at::Tensor idx = (at::arange(out, at::kLong) * in).div(out, "floor");
      lat[i - 1] = lat[i - 1] + lat[i].index_select(2, idx).index_select(3, idx);
    }
    for (int i = 0; i < 4; ++i)
      EXPECT_TRUE(at::allclose(outs[i], conv(neck->fpn_convs[i], lat[i], 1, 1), 1e-12, 1e-12)) << i;
    at::Tensor p5, p6;
    if (extra.empty()) {
      p5 = outs[3].slice(2, 0, c10::nullopt, 2).slice(3, 0, c10::nullopt, 2);
      p6 = p5.slice(2, 0, c10::nullopt, 2).slice(3, 0, c10::nullopt, 2);
    } else {
      const at::Tensor source = extra == "on_input"     ? x[3]
                                : extra == "on_lateral" ? lat[3]
                                                        : outs[3];
      p5 = conv(neck->fpn_convs[4], source, 2, 1);
      p6 = conv(neck->fpn_convs[5], o.relu_before_extra_convs ? at::relu(p5) : p5, 2, 1);
    }
    EXPECT_TRUE(at::allclose(outs[4], p5, 1e-12, 1e-12));
    EXPECT_TRUE(at::allclose(outs[5], p6, 1e-12, 1e-12));
    EXPECT_EQ(outs[5].size(2), 2);
  }
}

TEST(FPN, BadSettingsAndInputsAreErrors) {
  FPNOptions o;
  o.in_channels = {4, 8};
  o.num_outs = 1;
  EXPECT_THROW(FPN{o}, std::exception);
  o.num_outs = 3;
  o.add_extra_convs = "on_top";
  EXPECT_THROW(FPN{o}, std::exception);
  o.add_extra_convs = "";
  FPN neck(o);
  EXPECT_THROW(neck->forward({at::randn({1, 4, 8, 8}), at::randn({1, 6, 4, 4})}), c10::Error);
}

}  // namespace
}  // namespace vitrine::models
