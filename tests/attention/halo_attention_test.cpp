// Halo attention against an explicit masked global attention over the zero-padded key map,
// written from the definition (every query sees exactly its block's window; padding takes
// part with zero keys/values; the factorised relative-position term), plus timm's shapes and
// parameter names, the input-size error, and a float64 finite-difference gradient check.
#include "attention/halo_attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>
#include <map>
#include <string>

#include "support/finite_differences.h"

namespace {

using at::Tensor;
using vitrine::attention::HaloAttention;
using vitrine::attention::HaloAttentionOptions;

// Halo attention by its definition, before any pooling: for every query pixel, softmax over
// ALL positions of the padded key map, with positions outside the query block's window
// masked out.
Tensor halo_by_definition(HaloAttention& m, const Tensor& x) {
  const HaloAttentionOptions& o = m->options();
  const int64_t B = x.size(0), heads = o.num_heads, dqk = m->dim_head_qk(), dv = m->dim_head_v();
  const int64_t halo = o.halo_size, win = m->window(), bs = o.block_size;
  const int64_t bsd = bs / m->block_stride();
  const Tensor q = m->q->forward(x).view({B, heads, dqk, -1, x.size(3) / m->block_stride()});
  const Tensor kv = at::constant_pad_nd(m->kv->forward(x), {halo, halo, halo, halo})
                        .view({B, heads, dqk + dv, x.size(2) + 2 * halo, x.size(3) + 2 * halo});
  const int64_t Hp = kv.size(3), Wp = kv.size(4);
  const Tensor keys = kv.narrow(2, 0, dqk).flatten(3);  // [B, heads, dqk, Hp*Wp]
  const Tensor values = kv.narrow(2, dqk, dv).flatten(3);
  const Tensor height_rel = m->pos_embed->height_rel, width_rel = m->pos_embed->width_rel;
  Tensor out = at::zeros({B, heads, dv, q.size(3), q.size(4)}, x.options());
  for (int64_t Y = 0; Y < q.size(3); ++Y)
    for (int64_t X = 0; X < q.size(4); ++X) {
      const int64_t by = Y / bsd, bx = X / bsd, y = Y % bsd, xq = X % bsd;
      const Tensor qv = q.select(3, Y).select(3, X);  // [B, heads, dqk]
      Tensor logits = at::einsum("bhd,bhdp->bhp", {qv, keys}) * m->scale();
      Tensor position = at::full({Hp * Wp}, -INFINITY, x.options());
      for (int64_t ky = 0; ky < win; ++ky)
        for (int64_t kx = 0; kx < win; ++kx) {
          const int64_t p = (by * bs + ky) * Wp + (bx * bs + kx);
          position[p] = 0;  // inside the window
        }
      // Relative position term for window positions, per batch and head.
      Tensor rel = at::zeros({B, heads, Hp * Wp}, x.options());
      for (int64_t ky = 0; ky < win; ++ky)
        for (int64_t kx = 0; kx < win; ++kx) {
          const int64_t p = (by * bs + ky) * Wp + (bx * bs + kx);
          rel.select(2, p).copy_(at::matmul(qv, height_rel[ky - y + win - 1]) +
                                 at::matmul(qv, width_rel[kx - xq + win - 1]));
        }
      logits = o.scale_pos_embed
                   ? (at::einsum("bhd,bhdp->bhp", {qv, keys}) + rel) * m->scale() + position
                   : logits + rel + position;
      const Tensor weights = at::softmax(logits, -1);
      out.select(3, Y).select(3, X).copy_(at::einsum("bhp,bhdp->bhd", {weights, values}));
    }
  out = out.view({B, heads * dv, q.size(3), q.size(4)});
  return m->pool ? m->pool->forward(out) : out;
}

struct HaloSetup {
  std::string name;
  HaloAttentionOptions options;
  int64_t height, width;
};

std::vector<HaloSetup> setups() {
  std::vector<HaloSetup> all;
  auto add = [&](std::string name, HaloAttentionOptions o, int64_t h, int64_t w) {
    all.push_back({std::move(name), o, h, w});
  };
  HaloAttentionOptions base;
  base.dim = 8;
  base.num_heads = 2;
  base.block_size = 4;
  base.halo_size = 1;
  add("stride 1", base, 8, 12);
  HaloAttentionOptions strided = base;
  strided.stride = 2;
  add("stride 2, strided query blocks", strided, 8, 8);
  HaloAttentionOptions odd = base;
  odd.block_size = 3;
  odd.stride = 2;
  add("stride 2, odd block: full resolution + avg pool", odd, 6, 12);
  HaloAttentionOptions shaped = base;
  shaped.dim_out = 12;
  shaped.num_heads = 3;
  shaped.qk_ratio = 0.33;
  shaped.halo_size = 2;
  shaped.qkv_bias = true;
  add("qk_ratio, dim_out, bias, halo 2", shaped, 8, 8);
  HaloAttentionOptions head_dim = base;
  head_dim.dim_head = 6;
  head_dim.scale_pos_embed = true;
  add("dim_head, scale_pos_embed", head_dim, 4, 8);
  return all;
}

}  // namespace

TEST(HaloAttention, MatchesMaskedGlobalAttention) {
  for (const HaloSetup& s : setups()) {
    SCOPED_TRACE(s.name);
    HaloAttention m(s.options);
    m->to(at::kDouble);
    at::NoGradGuard no_grad;
    const Tensor x = at::randn({2, s.options.dim, s.height, s.width}, at::kDouble);
    const Tensor got = m->forward(x), want = halo_by_definition(m, x);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_EQ(got.size(2), s.height / s.options.stride);
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-12);
  }
}

TEST(HaloAttention, TimmShapesAndNames) {
  // halonet26t's stage-3 attention: dim 256, 8 heads, block 8, halo 2: dim_head_qk 32.
  HaloAttentionOptions o;
  o.dim = 256;
  o.block_size = 8;
  o.halo_size = 2;
  HaloAttention m(o);
  EXPECT_EQ(m->dim_head_qk(), 32);
  EXPECT_EQ(m->window(), 12);
  std::map<std::string, std::vector<int64_t>> want{{"q.weight", {256, 256, 1, 1}},
                                                   {"kv.weight", {512, 256, 1, 1}},
                                                   {"pos_embed.height_rel", {23, 32}},
                                                   {"pos_embed.width_rel", {23, 32}}};
  const auto params = m->named_parameters();
  EXPECT_EQ(params.size(), want.size());
  for (const auto& [name, shape] : want) {
    ASSERT_TRUE(params.contains(name)) << name;
    EXPECT_EQ(params[name].sizes().vec(), shape) << name;
  }
  // haloregnetz_b: qk_ratio 0.33 of 288 -> make_divisible(95.04) = 96 over 8 heads.
  o.dim = 288;
  o.qk_ratio = 0.33;
  o.block_size = 7;
  EXPECT_EQ(HaloAttention(o)->dim_head_qk(), 12);
}

TEST(HaloAttention, InputsNotMultiplesOfTheBlockAreAnError) {
  HaloAttentionOptions o;
  o.dim = 8;
  o.num_heads = 2;
  o.block_size = 4;
  HaloAttention m(o);
  try {
    m->forward(at::randn({1, 8, 8, 10}));
    FAIL() << "accepted width 10 with block 4";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("must be multiples of block_size 4"), std::string::npos)
        << e.what();
  }
}

TEST(HaloAttention, GradientsMatchFiniteDifferencesInDouble) {
  for (const HaloSetup& s : setups()) {
    SCOPED_TRACE(s.name);
    HaloAttention m(s.options);
    m->to(at::kDouble);
    Tensor x = at::randn({1, s.options.dim, s.height, s.width}, at::kDouble).requires_grad_(true);
    const Tensor weight = at::randn_like(m->forward(x));
    auto loss = [&] { return (m->forward(x) * weight).sum(); };
    std::vector<Tensor> inputs{x, m->pos_embed->height_rel, m->pos_embed->width_rel, m->q->weight,
                               m->kv->weight};
    vitrine::testing::expect_gradients_match_finite_differences(loss, inputs);
  }
}
