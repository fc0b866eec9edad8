// Lambda layer against its definition written out per position: content lambda
// softmax(K) V^T shared by all positions, position lambda from the r x r neighbourhood of the
// values (lambda convolution, zero outside the map, plus the conv's bias) or from the relative
// table over the whole map; output q . (lambda_c + lambda_p(n)) per head. Also timm's shapes
// and names and a float64 finite-difference check.
#include "attention/lambda_layer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "support/finite_differences.h"

namespace {

using at::Tensor;
using vitrine::attention::LambdaLayer;
using vitrine::attention::LambdaLayerOptions;

Tensor lambda_by_definition(LambdaLayer& m, const Tensor& x) {
  const LambdaLayerOptions& o = m->options();
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3), heads = o.num_heads;
  const int64_t k = m->dim_qk(), v = m->dim_v(), r = o.r;
  const Tensor y = m->qkv->forward(x);
  // The normalisations are stock layers: q and v through the module's batch norms.
  const Tensor q = m->norm_q->forward(y.narrow(1, 0, heads * k)).reshape({B, heads, k, H, W});
  const Tensor keys = at::softmax(y.narrow(1, heads * k, k).reshape({B, k, H * W}), -1);
  const Tensor values = m->norm_v->forward(y.narrow(1, heads * k + k, v));  // [B, v, H, W]
  const Tensor content = at::einsum("bkm,bvm->bkv", {keys, values.reshape({B, v, H * W})});
  Tensor out = at::zeros({B, heads, v, H, W}, x.options());
  for (int64_t py = 0; py < H; ++py)
    for (int64_t px = 0; px < W; ++px) {
      Tensor position = at::zeros({B, k, v}, x.options());
      if (r > 0) {
        const Tensor w = m->conv_lambda->weight;  // [k, 1, r, r, 1]
        position += m->conv_lambda->bias.view({1, k, 1});
        for (int64_t dy = 0; dy < r; ++dy)
          for (int64_t dx = 0; dx < r; ++dx) {
            const int64_t sy = py + dy - r / 2, sx = px + dx - r / 2;
            if (sy < 0 || sy >= H || sx < 0 || sx >= W) continue;
            position += w.select(1, 0).select(1, dy).select(1, dx).select(1, 0).view({1, k, 1}) *
                        values.select(2, sy).select(2, sx).view({B, 1, v});
          }
      } else {
        for (int64_t sy = 0; sy < H; ++sy)
          for (int64_t sx = 0; sx < W; ++sx)
            position += m->pos_emb[sy - py + H - 1][sx - px + W - 1].view({1, k, 1}) *
                        values.select(2, sy).select(2, sx).view({B, 1, v});
      }
      const Tensor qn = q.select(3, py).select(3, px);  // [B, heads, k]
      out.select(3, py).select(3, px).copy_(at::einsum("bhk,bkv->bhv", {qn, content + position}));
    }
  out = out.reshape({B, heads * v, H, W});
  return m->pool ? m->pool->forward(out) : out;
}

std::vector<std::pair<std::string, LambdaLayerOptions>> setups() {
  LambdaLayerOptions conv;
  conv.dim = 8;
  conv.num_heads = 2;
  conv.dim_head = 3;
  conv.r = 3;
  LambdaLayerOptions strided = conv;
  strided.stride = 2;
  strided.r = 5;  // wider than the 4-row map: the neighbourhood is clipped
  LambdaLayerOptions relative = conv;
  relative.r = 0;
  relative.height = 4;
  relative.width = 6;
  relative.dim_head = 0;  // from qk_ratio: make_divisible(8 * 1.0) / 2 = 4
  relative.qkv_bias = true;
  return {{"lambda conv r 3", conv}, {"stride 2, r 5", strided}, {"relative table", relative}};
}

// Non-trivial batch-norm statistics and affine parameters so eval mode is not an identity.
void randomise_norms(LambdaLayer& m) {
  at::NoGradGuard no_grad;
  for (auto* bn : {m->norm_q.get(), m->norm_v.get()}) {
    bn->running_mean.normal_(0, 0.5);
    bn->running_var.uniform_(0.5, 2.0);
    bn->weight.uniform_(0.5, 1.5);
    bn->bias.normal_(0, 0.2);
  }
  if (m->conv_lambda) m->conv_lambda->bias.normal_(0, 0.2);
}

}  // namespace

TEST(LambdaLayer, MatchesItsDefinitionWrittenOut) {
  for (const auto& [name, options] : setups()) {
    SCOPED_TRACE(name);
    LambdaLayer m(options);
    m->to(at::kDouble);
    randomise_norms(m);
    m->eval();
    at::NoGradGuard no_grad;
    const Tensor x = at::randn({2, options.dim, 4, 6}, at::kDouble);
    const Tensor got = m->forward(x), want = lambda_by_definition(m, x);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_EQ(got.size(3), 6 / options.stride);
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-12);
  }
}

TEST(LambdaLayer, TimmShapesAndNames) {
  // lamhalobotnet50ts_256's stage-2 layer: dim 128, 4 heads, k 16, v 32, r 13.
  LambdaLayerOptions o;
  o.dim = 128;
  o.r = 13;
  LambdaLayer m(o);
  std::map<std::string, std::vector<int64_t>> want{{"qkv.weight", {112, 128, 1, 1}},
                                                   {"norm_q.weight", {64}},
                                                   {"norm_q.bias", {64}},
                                                   {"norm_v.weight", {32}},
                                                   {"norm_v.bias", {32}},
                                                   {"conv_lambda.weight", {16, 1, 13, 13, 1}},
                                                   {"conv_lambda.bias", {16}}};
  const auto params = m->named_parameters();
  EXPECT_EQ(params.size(), want.size());
  for (const auto& [name, shape] : want) {
    ASSERT_TRUE(params.contains(name)) << name;
    EXPECT_EQ(params[name].sizes().vec(), shape) << name;
  }
  EXPECT_TRUE(m->named_buffers().contains("norm_v.running_var"));
  // Bad settings are named.
  o.r = 4;
  EXPECT_THROW(LambdaLayer{o}, c10::Error);
  o.r = 0;  // relative table without a map size
  EXPECT_THROW(LambdaLayer{o}, c10::Error);
}

TEST(LambdaLayer, GradientsMatchFiniteDifferencesInDouble) {
  for (const auto& [name, options] : setups()) {
    SCOPED_TRACE(name);
    LambdaLayer m(options);
    m->to(at::kDouble);
    Tensor x = at::randn({2, options.dim, 4, 6}, at::kDouble).requires_grad_(true);
    const Tensor weight = at::randn_like(m->forward(x));
    auto loss = [&] { return (m->forward(x) * weight).sum(); };
    std::vector<Tensor> inputs{x, m->qkv->weight, m->norm_q->weight, m->norm_v->bias};
    inputs.push_back(m->conv_lambda ? m->conv_lambda->weight : m->pos_emb);
    vitrine::testing::expect_gradients_match_finite_differences(loss, inputs);
  }
}
