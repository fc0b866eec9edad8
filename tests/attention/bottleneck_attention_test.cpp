// Bottleneck (BoT) attention against global attention written out per query from its
// definition (q.k * scale plus the relative-position term read from the tables by offset),
// timm's shapes and names, the fixed-size error, and a float64 finite-difference check.
#include "attention/bottleneck_attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "support/finite_differences.h"

namespace {

using at::Tensor;
using vitrine::attention::BottleneckAttention;
using vitrine::attention::BottleneckAttentionOptions;

Tensor bottleneck_by_definition(BottleneckAttention& m, const Tensor& x) {
  const BottleneckAttentionOptions& o = m->options();
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3), heads = o.num_heads;
  const int64_t dqk = m->dim_head_qk(), dv = m->dim_head_v();
  const Tensor y = m->qkv->forward(x);  // [B, q | k | v, H, W]
  const Tensor q = y.narrow(1, 0, heads * dqk).reshape({B, heads, dqk, H, W});
  const Tensor k = y.narrow(1, heads * dqk, heads * dqk).reshape({B, heads, dqk, H * W});
  const Tensor v = y.narrow(1, 2 * heads * dqk, heads * dv).reshape({B, heads, dv, H * W});
  const Tensor hrel = m->pos_embed->height_rel, wrel = m->pos_embed->width_rel;
  Tensor out = at::zeros({B, heads, dv, H, W}, x.options());
  for (int64_t qy = 0; qy < H; ++qy)
    for (int64_t qx = 0; qx < W; ++qx) {
      const Tensor qv = q.select(3, qy).select(3, qx);  // [B, heads, dqk]
      Tensor logits = at::einsum("bhd,bhdp->bhp", {qv, k}) * m->scale();
      for (int64_t ky = 0; ky < H; ++ky)
        for (int64_t kx = 0; kx < W; ++kx) {
          const Tensor rel = at::matmul(qv, hrel[ky - qy + H - 1]) +
                             at::matmul(qv, wrel[kx - qx + W - 1]);  // [B, heads]
          logits.select(2, ky * W + kx).add_(o.scale_pos_embed ? rel * m->scale() : rel);
        }
      const Tensor weights = at::softmax(logits, -1);
      out.select(3, qy).select(3, qx).copy_(at::einsum("bhp,bhdp->bhd", {weights, v}));
    }
  out = out.reshape({B, heads * dv, H, W});
  return m->pool ? m->pool->forward(out) : out;
}

std::vector<std::pair<std::string, BottleneckAttentionOptions>> setups() {
  BottleneckAttentionOptions base;
  base.dim = 8;
  base.num_heads = 2;
  base.height = 4;
  base.width = 6;
  BottleneckAttentionOptions strided = base;
  strided.stride = 2;
  BottleneckAttentionOptions shaped = base;
  shaped.dim_out = 12;
  shaped.num_heads = 3;
  shaped.dim_head = 5;
  shaped.qkv_bias = true;
  shaped.scale_pos_embed = true;
  return {{"stride 1", base},
          {"stride 2 (average pool)", strided},
          {"dim_out, dim_head, bias, scale_pos_embed", shaped}};
}

}  // namespace

TEST(BottleneckAttention, MatchesGlobalAttentionWrittenOut) {
  for (const auto& [name, options] : setups()) {
    SCOPED_TRACE(name);
    BottleneckAttention m(options);
    m->to(at::kDouble);
    at::NoGradGuard no_grad;
    const Tensor x = at::randn({2, options.dim, options.height, options.width}, at::kDouble);
    const Tensor got = m->forward(x), want = bottleneck_by_definition(m, x);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_EQ(got.size(1), options.dim_out ? options.dim_out : options.dim);
    EXPECT_EQ(got.size(3), options.width / options.stride);
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-12);
  }
}

TEST(BottleneckAttention, TimmShapesAndNames) {
  // halo2botnet50ts_256's stage-4 attention: dim 512 at 8x8, 4 heads of 128.
  BottleneckAttentionOptions o;
  o.dim = 512;
  o.height = o.width = 8;
  BottleneckAttention m(o);
  std::map<std::string, std::vector<int64_t>> want{{"qkv.weight", {1536, 512, 1, 1}},
                                                   {"pos_embed.height_rel", {15, 128}},
                                                   {"pos_embed.width_rel", {15, 128}}};
  const auto params = m->named_parameters();
  EXPECT_EQ(params.size(), want.size());
  for (const auto& [name, shape] : want) {
    ASSERT_TRUE(params.contains(name)) << name;
    EXPECT_EQ(params[name].sizes().vec(), shape) << name;
  }
}

TEST(BottleneckAttention, OtherMapSizesAreAnError) {
  BottleneckAttentionOptions o;
  o.dim = 8;
  o.num_heads = 2;
  o.height = o.width = 4;
  BottleneckAttention m(o);
  try {
    m->forward(at::randn({1, 8, 4, 6}));
    FAIL() << "accepted a 4x6 map in a module built for 4x4";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("built for a 4x4 feature map, got 4x6"), std::string::npos)
        << e.what();
  }
  o.height = 0;
  EXPECT_THROW(BottleneckAttention{o}, c10::Error);
}

TEST(BottleneckAttention, GradientsMatchFiniteDifferencesInDouble) {
  for (const auto& [name, options] : setups()) {
    SCOPED_TRACE(name);
    BottleneckAttention m(options);
    m->to(at::kDouble);
    Tensor x = at::randn({1, options.dim, options.height, options.width}, at::kDouble)
                   .requires_grad_(true);
    const Tensor weight = at::randn_like(m->forward(x));
    auto loss = [&] { return (m->forward(x) * weight).sum(); };
    vitrine::testing::expect_gradients_match_finite_differences(
        loss, {x, m->qkv->weight, m->pos_embed->height_rel, m->pos_embed->width_rel});
  }
}
