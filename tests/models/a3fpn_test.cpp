// A3-FPN against the structure read from the official code (docs/a3fpn_facts.md): exact
// parameter counts of the R50 and Lite settings (replayed from that structure), official names,
// the column's output shapes, the DCNv4-form resampler's zero start and its sampling convention,
// and input checks.
#include "models/necks/a3fpn.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "models/registry.h"

namespace vitrine::models {
namespace {

TEST(A3FPN, ParameterCountsOfTheR50AndLiteSettings) {
  A3FPN full(A3FPNOptions{});
  EXPECT_EQ(count_parameters(*full), 37452745);  // the paper's "about 38M" (FPN: 3,344,384)
  A3FPN lite(A3FPNOptions::lite());
  EXPECT_EQ(count_parameters(*lite), 9560267);
  // The official RetinaNet neck (end_level 6): + conv44 and extra_convs.0, each 256 x 256 x 3 x 3
  // without bias and a BatchNorm of 256 (issue 26).
  A3FPNOptions detector;
  detector.extra_levels = 2;
  EXPECT_EQ(count_parameters(*A3FPN(detector)), 37452745 + 2 * (256 * 256 * 9 + 2 * 256));
  const auto p = full->named_parameters();
  for (const char* name :
       {"conv1.conv.weight", "conv3.norm.weight", "conv00.conv.weight", "conv33.norm.bias",
        "a3fpn_body.a3fpn_2_level0.upsample.sample_layer.0.conv.weight",
        "a3fpn_body.a3fpn_2_level1.downsample.sample_layer.conv.weight",
        "a3fpn_body.a3fpn_3_level2.downsample4x.sample_layer.norm.weight",
        "a3fpn_body.a3fpn_4_level1.upsample4x1.sample_layer.0.conv.weight",
        "a3fpn_body.a3fpn_4_level3.downsample8x3.sample_layer.conv.weight",
        "a3fpn_body.a3fpn_4_level0.MCA.weight_level_4.conv.weight",
        "a3fpn_body.a3fpn_4_level0.MCA.weight_levels.bottlenecks.0.conv1.conv.weight",
        "a3fpn_body.a3fpn_3_level1.MCA.context_conv.conv.weight",
        "a3fpn_body.a3fpn_3_level1.MCA.resampler2.resampling.offset_mask.weight",
        "a3fpn_body.a3fpn_2_level0.MCA.resampler1.norm.weight",
        "a3fpn_body.a3fpn_4_level2.ICA.gn.weight"})
    EXPECT_TRUE(p.contains(name)) << name;
  EXPECT_FALSE(p.contains("conv0.conv.weight"));  // squeeze 1: identity
  // ceil(27 * 16 / 8) * 8 = 432 offset/mask channels for 16 groups.
  EXPECT_EQ(p["a3fpn_body.a3fpn_2_level0.MCA.resampler1.resampling.offset_mask.weight"].size(0),
            432);
}

A3FPNOptions tiny() {
  A3FPNOptions o;
  o.in_channels = {16, 32, 64, 128};
  o.out_channels = 8;
  o.compress_channels = {4, 4, 4, 8};
  o.group_nums = {4, 4, 4, 8};
  o.dcn_groups = {2, 2, 2, 4};
  return o;
}

TEST(A3FPN, ColumnGivesFourLevelsOfOutChannels) {
  A3FPN neck(tiny());
  neck->eval();
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> x;
  for (int i = 0; i < 4; ++i) x.push_back(at::randn({2, 16 << i, 32 >> i, 32 >> i}));
  const auto out = neck->forward(x);
  ASSERT_EQ(out.size(), 4u);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(out[i].sizes().vec(), (std::vector<int64_t>{2, 8, 32 >> i, 32 >> i})) << i;
  x[3] = at::randn({2, 128, 3, 3});
  EXPECT_THROW(neck->forward(x), c10::Error);  // not half of level 2
}

TEST(A3FPN, ResamplerStartsAtZeroAndSamplesByItsConvention) {
  DCNv4Resampler r(8, 2, 1.0, true);
  r->to(at::kDouble);
  torch::NoGradGuard no_grad;
  const at::Tensor f = at::randn({1, 8, 5, 6}, at::kDouble), context = at::randn_like(f);
  EXPECT_EQ(r->forward(context, f).abs().max().item<double>(), 0.0);  // zero-initialised masks
  // Identity projections, no offsets, mask 1 on point 5 only: x-major points put (dx, dy) =
  // (0, +1) there, so every output reads the pixel one row below (zero past the last row).
  r->value_proj->weight.copy_(at::eye(8, at::kDouble));
  r->output_proj->weight.copy_(at::eye(8, at::kDouble));
  r->offset_mask->bias.zero_();
  for (int g = 0; g < 2; ++g) r->offset_mask->bias[g * 27 + 18 + 5] = 1.0;
  const at::Tensor got = r->forward(context, f);
  at::Tensor shifted = at::zeros_like(f);
  shifted.narrow(2, 0, 4).copy_(f.narrow(2, 1, 4));
  const at::Tensor u = shifted.mean(1, true), s = (shifted - u).pow(2).mean(1, true);
  EXPECT_TRUE(at::allclose(got, at::gelu((shifted - u) / at::sqrt(s + 1e-6)), 1e-9, 1e-9));
}

// The official DCNv4 kernel's sampling (OpenGVLab/DCNv4, dcnv4_im2col_cuda.cuh), written out
// per output pixel: per group g the offset_mask row holds K = 9 (dx, dy) pairs then 9 masks;
// points run over kernel columns i (outer) and rows j (inner); the point sits at
// x + (i - 1 + dx) * offset_scale, y + (j - 1 + dy) * offset_scale; bilinear sampling with
// each out-of-image corner read as zero, nothing when the point lies at or beyond -1 / size.
TEST(A3FPN, ResamplerMatchesTheDcnv4KernelWrittenOut) {
  torch::manual_seed(3);
  const int64_t C = 8, G = 2, D = C / G, H = 5, W = 6;
  const double scale = 2.0;
  DCNv4Resampler r(C, G, scale, true);
  r->to(at::kDouble);
  torch::NoGradGuard no_grad;
  r->offset_mask->weight.normal_(0, 0.3);
  r->offset_mask->bias.normal_(0, 0.5);
  r->value_proj->weight.copy_(at::eye(C, at::kDouble));
  r->value_proj->bias.zero_();
  r->output_proj->weight.copy_(at::eye(C, at::kDouble));
  r->output_proj->bias.zero_();
  const at::Tensor f = at::randn({1, C, H, W}, at::kDouble), context = at::randn_like(f);
  const at::Tensor om =
      r->offset_mask->forward(r->offset_mask_dw->forward(context).permute({0, 2, 3, 1}))[0];
  at::Tensor expected = at::zeros({1, C, H, W}, at::kDouble);
  auto value = [&](int64_t c, int64_t y, int64_t x) {
    return (y >= 0 && y < H && x >= 0 && x < W) ? f[0][c][y][x].item<double>() : 0.0;
  };
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t g = 0; g < G; ++g)
        for (int64_t i = 0; i < 3; ++i)
          for (int64_t j = 0; j < 3; ++j) {
            const int64_t k = i * 3 + j, base = g * 27;
            const double dx = om[y][x][base + 2 * k].item<double>();
            const double dy = om[y][x][base + 2 * k + 1].item<double>();
            const double mask = om[y][x][base + 18 + k].item<double>();
            const double w_im = x + (i - 1 + dx) * scale, h_im = y + (j - 1 + dy) * scale;
            if (!(h_im > -1 && w_im > -1 && h_im < H && w_im < W)) continue;
            const int64_t h0 = static_cast<int64_t>(std::floor(h_im));
            const int64_t w0 = static_cast<int64_t>(std::floor(w_im));
            const double lh = h_im - h0, lw = w_im - w0;
            for (int64_t d = 0; d < D; ++d) {
              const int64_t c = g * D + d;
              const double v =
                  (1 - lh) * (1 - lw) * value(c, h0, w0) + (1 - lh) * lw * value(c, h0, w0 + 1) +
                  lh * (1 - lw) * value(c, h0 + 1, w0) + lh * lw * value(c, h0 + 1, w0 + 1);
              expected[0][c][y][x] += mask * v;
            }
          }
  const at::Tensor u = expected.mean(1, true), s2 = (expected - u).pow(2).mean(1, true);
  EXPECT_TRUE(at::allclose(r->forward(context, f), at::gelu((expected - u) / at::sqrt(s2 + 1e-6)),
                           1e-9, 1e-9));
}

// Issue 26: mmseg's form runs the body bottom-up (mmseg/models/necks/a3fpn.py, Body.forward):
// stage 2 on (x0, x1) with level 1 first and level 0 on its result, stage 3 on (o0, x1', x2),
// stage 4 on (x0', o1, x2', x3), then conv00..33. Written out here level by level.
TEST(A3FPN, BottomUpFormRunsMmsegsSchedule) {
  torch::manual_seed(6);
  A3FPNOptions o = A3FPNOptions::lite();
  o.in_channels = {32, 64, 128, 64};
  o.out_channels = 16;
  o.squeeze = {1, 2, 4, 1};
  o.bottom_up = true;
  A3FPN neck(o);
  neck->eval();
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> in;
  for (int64_t i = 0; i < 4; ++i)
    in.push_back(torch::randn({1, o.in_channels[static_cast<size_t>(i)], 32 >> i, 32 >> i}));
  const auto out = neck->forward(in);
  auto children = neck->named_children();
  auto conv = [&](const std::string& name, const at::Tensor& x) {
    return std::dynamic_pointer_cast<A3ConvImpl>(children[name])->forward(x);
  };
  const at::Tensor x0 = in[0], x1 = conv("conv1", in[1]), x2 = conv("conv2", in[2]), x3 = in[3];
  EXPECT_FALSE(children.contains("conv0") || children.contains("conv3"));  // squeeze 1
  const at::Tensor x1a = neck->body_level(2, 1, {x0, x1});
  const at::Tensor o0 = neck->body_level(2, 0, {x0, x1a});
  const std::vector<at::Tensor> s3{o0, x1a, x2};
  const std::vector<at::Tensor> s4{neck->body_level(3, 0, s3), neck->body_level(3, 1, s3),
                                   neck->body_level(3, 2, s3), x3};
  ASSERT_EQ(out.size(), 4u);
  for (int64_t j = 0; j < 4; ++j) {
    const at::Tensor expected =
        conv("conv" + std::to_string(j) + std::to_string(j), neck->body_level(4, j, s4));
    EXPECT_TRUE(torch::allclose(out[static_cast<size_t>(j)], expected, 1e-5, 1e-6)) << j;
    EXPECT_EQ(out[static_cast<size_t>(j)].size(1), 16);
  }
  // The top-down form with the same settings is another network (other level channels).
  o.bottom_up = false;
  A3FPN top_down(o);
  EXPECT_NE(count_parameters(*top_down), count_parameters(*neck));
}

}  // namespace
}  // namespace vitrine::models
