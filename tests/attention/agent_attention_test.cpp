// Agent attention against its two-softmax definition written out with loops (agents as
// region means of the queries, bilinear bias resizing, aggregation and broadcast softmaxes,
// the depthwise conv of V), the official parameter names and shapes, errors for a wrong
// token count, and float64 finite differences.
#include "attention/agent_attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "attention/scale_attention.h"
#include "attention/window_attention.h"
#include "support/finite_differences.h"

namespace {

using at::Tensor;
using vitrine::attention::AgentAttention;
using vitrine::attention::AgentAttentionOptions;

// Bilinear resize of a [R, 7, 7] table to [R, H, W] (align_corners false, edge clamped).
Tensor bilinear(const Tensor& table, int64_t H, int64_t W) {
  const int64_t R = table.size(0), h = table.size(1), w = table.size(2);
  Tensor out = at::zeros({R, H, W}, table.options());
  auto source = [](int64_t i, int64_t in, int64_t out_size, int64_t& i0, int64_t& i1, double& f) {
    double s = (i + 0.5) * static_cast<double>(in) / out_size - 0.5;
    if (s < 0) s = 0;
    i0 = static_cast<int64_t>(std::floor(s));
    i1 = std::min(i0 + 1, in - 1);
    f = s - i0;
  };
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      int64_t y0, y1, x0, x1;
      double fy, fx;
      source(y, h, H, y0, y1, fy);
      source(x, w, W, x0, x1, fx);
      out.select(1, y).select(1, x).copy_(table.select(1, y0).select(1, x0) * (1 - fy) * (1 - fx) +
                                          table.select(1, y0).select(1, x1) * (1 - fy) * fx +
                                          table.select(1, y1).select(1, x0) * fy * (1 - fx) +
                                          table.select(1, y1).select(1, x1) * fy * fx);
    }
  return out;
}

Tensor agent_by_definition(AgentAttention& m, const Tensor& x) {
  const AgentAttentionOptions& o = m->options();
  const int64_t B = x.size(0), H = o.height, W = o.width, C = o.dim, heads = o.num_heads;
  const int64_t d = C / heads, P = m->pool_size(), A = o.agent_num, e = o.cls_token ? 1 : 0;
  const int64_t N = H * W + e;
  // q [B, N, C]; k, v [B, Nk, C] with Nk = (H/sr)(W/sr): the PVT form reduces the map by a
  // stock sr x sr strided conv + LayerNorm before its kv Linear (k then v).
  const int64_t sr = o.sr_ratio, Hk = H / sr, Wk = W / sr, Nk = Hk * Wk + e;
  Tensor q, k, v;
  if (o.separate_qkv) {
    q = m->q->forward(x);
    Tensor source = x;
    if (sr > 1)
      source = m->norm->forward(
          m->sr->forward(x.transpose(1, 2).reshape({B, C, H, W})).flatten(2).transpose(1, 2));
    const Tensor kv = m->kv->forward(source);
    k = kv.narrow(2, 0, C);
    v = kv.narrow(2, C, C);
  } else {
    const Tensor qkv = m->qkv->forward(x);
    q = qkv.narrow(2, 0, C);
    k = qkv.narrow(2, C, C);
    v = qkv.narrow(2, 2 * C, C);
  }
  const Tensor b1 =
      bilinear(m->an_bias.reshape({heads * A, 7, 7}), Hk, Wk).view({heads, A, Hk, Wk}) +
      m->ah_bias[0] + m->aw_bias[0];  // [heads, A, Hk, Wk]
  const Tensor b2 = bilinear(m->na_bias.reshape({heads * A, 7, 7}), H, W)
                        .view({heads, A, H, W})
                        .permute({0, 2, 3, 1}) +
                    m->ha_bias[0] + m->wa_bias[0];  // [heads, H, W, A]
  Tensor out = at::zeros({B, N, C}, x.options());
  for (int64_t b = 0; b < B; ++b) {
    // Agents: means of the query map over adaptive-pooling regions.
    Tensor agents = at::zeros({A, C}, x.options());
    for (int64_t i = 0; i < P; ++i)
      for (int64_t j = 0; j < P; ++j) {
        const int64_t y0 = i * H / P, y1 = ((i + 1) * H + P - 1) / P;
        const int64_t x0 = j * W / P, x1 = ((j + 1) * W + P - 1) / P;
        Tensor sum = at::zeros({C}, x.options());
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t xx = x0; xx < x1; ++xx) sum += q[b][e + y * W + xx];
        agents[i * P + j] = sum / static_cast<double>((y1 - y0) * (x1 - x0));
      }
    for (int64_t h = 0; h < heads; ++h) {
      const Tensor qh = q[b].narrow(1, h * d, d), kh = k[b].narrow(1, h * d, d),
                   vh = v[b].narrow(1, h * d, d), ah = agents.narrow(1, h * d, d);
      Tensor agent_v = at::zeros({A, d}, x.options());
      for (int64_t a = 0; a < A; ++a) {
        Tensor logits = at::zeros({Nk}, x.options());
        for (int64_t t = 0; t < Nk; ++t)
          logits[t] = (ah[a] * m->scale()).dot(kh[t]) +
                      (t < e ? m->ac_bias[0][h][a][0] : b1[h][a][(t - e) / Wk][(t - e) % Wk]);
        agent_v[a] = at::matmul(at::softmax(logits, 0), vh);
      }
      for (int64_t t = 0; t < N; ++t) {
        Tensor logits = at::zeros({A}, x.options());
        for (int64_t a = 0; a < A; ++a)
          logits[a] = (qh[t] * m->scale()).dot(ah[a]) +
                      (t < e ? m->ca_bias[0][h][0][a] : b2[h][(t - e) / W][(t - e) % W][a]);
        out[b][t].narrow(0, h * d, d).copy_(at::matmul(at::softmax(logits, 0), agent_v));
      }
    }
    // Depthwise 3x3 conv of V (zero padding, bias), V first resized bilinearly to H x W.
    const Tensor v_map =
        bilinear(v[b].narrow(0, e, Hk * Wk).t().reshape({C, Hk, Wk}), H, W);  // [C, H, W]
    const Tensor weight = m->dwc->weight, bias = m->dwc->bias;
    for (int64_t y = 0; y < H; ++y)
      for (int64_t xx = 0; xx < W; ++xx) {
        Tensor acc = bias.clone();
        for (int64_t dy = -1; dy <= 1; ++dy)
          for (int64_t dx = -1; dx <= 1; ++dx) {
            const int64_t sy = y + dy, sx = xx + dx;
            if (sy < 0 || sy >= H || sx < 0 || sx >= W) continue;
            acc += weight.select(1, 0).select(1, dy + 1).select(1, dx + 1) *
                   v_map.select(1, sy).select(1, sx);
          }
        out[b][e + y * W + xx] += acc;
      }
  }
  return m->proj->forward(out);
}

AgentAttentionOptions small(int64_t h, int64_t w, int64_t agents, bool cls = false) {
  AgentAttentionOptions o;
  o.cls_token = cls;
  o.dim = 8;
  o.num_heads = 2;
  o.height = h;
  o.width = w;
  o.agent_num = agents;
  return o;
}

AgentAttentionOptions pvt_form(int64_t h, int64_t w, int64_t agents, int64_t sr = 1) {
  AgentAttentionOptions o = small(h, w, agents);
  o.separate_qkv = true;
  o.sr_ratio = sr;
  return o;
}

}  // namespace

TEST(AgentAttention, MatchesTheTwoSoftmaxDefinition) {
  for (const auto& o :
       {small(7, 7, 4), small(5, 6, 4), small(6, 4, 9), small(3, 3, 9), small(4, 4, 4, true),
        small(5, 3, 9, true), pvt_form(5, 6, 4), pvt_form(6, 4, 4, 2), pvt_form(6, 9, 9, 3)}) {
    SCOPED_TRACE(std::to_string(o.height) + "x" + std::to_string(o.width) + " agents " +
                 std::to_string(o.agent_num) + (o.cls_token ? " with a class token" : "") +
                 (o.separate_qkv ? " (PVT form, sr " + std::to_string(o.sr_ratio) + ")" : ""));
    AgentAttention m(o);
    m->to(at::kDouble);
    at::NoGradGuard no_grad;
    const Tensor x = at::randn({2, o.height * o.width + (o.cls_token ? 1 : 0), o.dim}, at::kDouble);
    EXPECT_LE((m->forward(x) - agent_by_definition(m, x)).abs().max().item<double>(), 1e-12);
  }
}

TEST(AgentAttention, OfficialNamesAndShapes) {
  AgentAttentionOptions o;  // Agent-Swin-T stage 1: 96 channels, 3 heads, 56x56, 49 agents
  o.dim = 96;
  o.num_heads = 3;
  o.height = o.width = 56;
  AgentAttention m(o);
  const std::map<std::string, std::vector<int64_t>> want{
      {"qkv.weight", {288, 96}},      {"qkv.bias", {288}},
      {"proj.weight", {96, 96}},      {"proj.bias", {96}},
      {"dwc.weight", {96, 1, 3, 3}},  {"dwc.bias", {96}},
      {"an_bias", {3, 49, 7, 7}},     {"na_bias", {3, 49, 7, 7}},
      {"ah_bias", {1, 3, 49, 56, 1}}, {"aw_bias", {1, 3, 49, 1, 56}},
      {"ha_bias", {1, 3, 56, 1, 49}}, {"wa_bias", {1, 3, 1, 56, 49}}};
  const auto params = m->named_parameters();
  EXPECT_EQ(params.size(), want.size());
  for (const auto& [name, shape] : want) {
    ASSERT_TRUE(params.contains(name)) << name;
    EXPECT_EQ(params[name].sizes().vec(), shape) << name;
  }
}

TEST(AgentAttention, WrongTokenCountOrAgentNumberIsAnError) {
  AgentAttention m(small(4, 4, 4));
  try {
    m->forward(at::randn({1, 15, 8}));
    FAIL() << "15 tokens accepted for a 4x4 map";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("built for a 4x4 map"), std::string::npos) << e.what();
  }
  EXPECT_THROW(AgentAttention(small(4, 4, 5)), c10::Error);
  EXPECT_THROW(AgentAttention(pvt_form(5, 4, 4, 2)), c10::Error);  // 5 rows do not reduce by 2
  AgentAttentionOptions swin_form = small(4, 4, 4);
  swin_form.sr_ratio = 2;  // the reduction exists in the PVT form only
  EXPECT_THROW(AgentAttention{swin_form}, c10::Error);
}

TEST(AgentAttention, SpatialReductionGradientsMatchFiniteDifferences) {
  AgentAttention m(pvt_form(4, 6, 4, 2));
  m->to(at::kDouble);
  Tensor x = at::randn({1, 24, 8}, at::kDouble).requires_grad_(true);
  const Tensor weight = at::randn({1, 24, 8}, at::kDouble);
  auto loss = [&] { return (m->forward(x) * weight).sum(); };
  std::vector<Tensor> inputs{x,          m->sr->weight, m->norm->weight, m->kv->weight,
                             m->aw_bias, m->an_bias};
  vitrine::testing::expect_gradients_match_finite_differences(loss, inputs, 6);
  const auto params = m->named_parameters();
  EXPECT_EQ(params["sr.weight"].sizes().vec(), (std::vector<int64_t>{8, 8, 2, 2}));
  EXPECT_EQ(params["ah_bias"].sizes().vec(), (std::vector<int64_t>{1, 2, 4, 2, 1}));
  EXPECT_EQ(params["ha_bias"].sizes().vec(), (std::vector<int64_t>{1, 2, 4, 1, 4}));
}

TEST(AgentAttention, GradientsMatchFiniteDifferencesInDouble) {
  AgentAttention m(small(5, 4, 4));
  m->to(at::kDouble);
  Tensor x = at::randn({1, 20, 8}, at::kDouble).requires_grad_(true);
  const Tensor weight = at::randn({1, 20, 8}, at::kDouble);
  auto loss = [&] { return (m->forward(x) * weight).sum(); };
  std::vector<Tensor> inputs{x,          m->an_bias,     m->na_bias,    m->ah_bias,
                             m->wa_bias, m->qkv->weight, m->dwc->weight};
  vitrine::testing::expect_gradients_match_finite_differences(loss, inputs, 6);
}

// Swin window attention (Agent-Swin's 'B' blocks) against softmax attention written out per
// window, with the bias of (query, key) read from the table at (dy + w - 1, dx + w - 1), and a
// mask that keeps two halves of every window apart.
TEST(WindowAttention, MatchesPerWindowAttentionWithTheBiasTable) {
  using vitrine::attention::WindowAttention;
  using vitrine::attention::WindowAttentionOptions;
  WindowAttentionOptions o;
  o.dim = 6;
  o.num_heads = 2;
  o.window_size = 3;
  WindowAttention m(o);
  m->to(at::kDouble);
  at::NoGradGuard no_grad;
  const int64_t windows = 2, B = 2, N = 9, d = 3;
  const Tensor x = at::randn({windows * B, N, o.dim}, at::kDouble);
  Tensor mask = at::zeros({windows, N, N}, at::kDouble);
  mask[1].slice(0, 0, 4).slice(1, 4, 9).fill_(-100.0);
  mask[1].slice(0, 4, 9).slice(1, 0, 4).fill_(-100.0);
  const Tensor got = m->forward(x, mask);
  const Tensor qkv = m->qkv->forward(x);
  Tensor want = at::zeros({windows * B, N, o.dim}, at::kDouble);
  for (int64_t b = 0; b < windows * B; ++b)
    for (int64_t h = 0; h < o.num_heads; ++h)
      for (int64_t i = 0; i < N; ++i) {
        Tensor logits = at::zeros({N}, at::kDouble);
        for (int64_t j = 0; j < N; ++j) {
          const int64_t dy = i / 3 - j / 3 + 2, dx = i % 3 - j % 3 + 2;
          logits[j] = qkv[b][i].narrow(0, h * d, d).dot(qkv[b][j].narrow(0, o.dim + h * d, d)) /
                          std::sqrt(3.0) +
                      m->relative_position_bias_table[dy * 5 + dx][h] + mask[b % windows][i][j];
        }
        const Tensor p = at::softmax(logits, 0);
        for (int64_t j = 0; j < N; ++j)
          want[b][i].narrow(0, h * d, d) += p[j] * qkv[b][j].narrow(0, 2 * o.dim + h * d, d);
      }
  want = m->proj->forward(want);
  EXPECT_LE((got - want).abs().max().item<double>(), 1e-12);
}

// DuoFormer's scale attention against a loop over batches, regions and heads (each region's
// S tokens attend only to each other), with the official 2/sqrt(dim) and the usual scale;
// region attention against the same loop over all tokens; float64 finite differences.
TEST(ScaleAttention, MatchesPerRegionAttentionLoops) {
  using vitrine::attention::ScaleAttention;
  using vitrine::attention::ScaleAttentionOptions;
  for (double chosen : {-1.0, 0.0}) {
    ScaleAttentionOptions o;
    o.dim = 12;
    o.num_heads = 3;
    o.qkv_bias = true;
    o.scale_attention_scale = chosen;
    ScaleAttention m(o);
    m->to(at::kDouble);
    EXPECT_DOUBLE_EQ(m->scale_factor(), chosen < 0 ? 2 / std::sqrt(12.0) : 0.5);
    at::NoGradGuard no_grad;
    const int64_t B = 2, R = 3, S = 5, C = 12, d = 4;
    const Tensor x = at::randn({B, R, S, C}, at::kDouble);
    auto loop = [&](const Tensor& tokens, vitrine::attention::ScaleAttentionImpl& mod,
                    bool scale_path) {
      const Tensor qkv = (scale_path ? mod.qkv1 : mod.qkv)->forward(tokens);  // [T, 3C]
      const int64_t T = tokens.size(0);
      Tensor out = at::zeros({T, C}, at::kDouble);
      const double factor = scale_path ? mod.scale_factor() : mod.region_factor();
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t i = 0; i < T; ++i) {
          Tensor logits = at::zeros({T}, at::kDouble);
          for (int64_t j = 0; j < T; ++j)
            logits[j] = qkv[i].narrow(0, h * d, d).dot(qkv[j].narrow(0, C + h * d, d)) * factor;
          const Tensor p = at::softmax(logits, 0);
          for (int64_t j = 0; j < T; ++j)
            out[i].narrow(0, h * d, d) += p[j] * qkv[j].narrow(0, 2 * C + h * d, d);
        }
      return (scale_path ? mod.proj1 : mod.proj)->forward(out);
    };
    const Tensor got = m->forward_scale(x);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t r = 0; r < R; ++r)
        EXPECT_LE((got[b][r] - loop(x[b][r], *m, true)).abs().max().item<double>(), 1e-12);
    const Tensor flat = x.reshape({B, R * S, C});
    const Tensor region = m->forward_region(flat);
    for (int64_t b = 0; b < B; ++b)
      EXPECT_LE((region[b] - loop(flat[b], *m, false)).abs().max().item<double>(), 1e-12);
  }
}

TEST(ScaleAttention, GradientsMatchFiniteDifferencesInDouble) {
  using vitrine::attention::ScaleAttention;
  using vitrine::attention::ScaleAttentionOptions;
  ScaleAttentionOptions o;
  o.dim = 8;
  o.num_heads = 2;
  ScaleAttention m(o);
  m->to(at::kDouble);
  Tensor x = at::randn({2, 3, 4, 8}, at::kDouble).requires_grad_(true);
  const Tensor weight = at::randn({2, 3, 4, 8}, at::kDouble);
  auto loss = [&] { return (m->forward_scale(x) * weight).sum(); };
  std::vector<Tensor> inputs{x, m->qkv1->weight, m->proj1->weight};
  vitrine::testing::expect_gradients_match_finite_differences(loss, inputs, 8);
}
