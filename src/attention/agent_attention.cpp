#include "attention/agent_attention.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

#include "layers/weight_init.h"

namespace vitrine::attention {

AgentAttentionImpl::AgentAttentionImpl(AgentAttentionOptions o) : options_(o) {
  TORCH_CHECK(o.dim > 0 && o.num_heads > 0 && o.dim % o.num_heads == 0, "AgentAttention: dim ",
              o.dim, " must be a positive multiple of num_heads ", o.num_heads);
  TORCH_CHECK(o.height > 0 && o.width > 0, "AgentAttention: height and width must be positive");
  pool_size_ = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(o.agent_num))));
  TORCH_CHECK(pool_size_ * pool_size_ == o.agent_num, "AgentAttention: agent_num ", o.agent_num,
              " must be a square number (agents are a pooled grid)");
  TORCH_CHECK(o.sr_ratio >= 1 && (o.sr_ratio == 1 || (o.separate_qkv && !o.cls_token)),
              "AgentAttention: sr_ratio ", o.sr_ratio,
              " needs the PVT form (separate_qkv, no class token) and must be at least 1");
  TORCH_CHECK(o.height % o.sr_ratio == 0 && o.width % o.sr_ratio == 0, "AgentAttention: the ",
              o.height, "x", o.width, " map is not a multiple of sr_ratio ", o.sr_ratio);
  scale_ = std::pow(static_cast<double>(o.dim / o.num_heads), -0.5);
  if (o.separate_qkv) {
    q = register_module("q",
                        torch::nn::Linear(torch::nn::LinearOptions(o.dim, o.dim).bias(o.qkv_bias)));
    kv = register_module(
        "kv", torch::nn::Linear(torch::nn::LinearOptions(o.dim, 2 * o.dim).bias(o.qkv_bias)));
    if (o.sr_ratio > 1) {
      sr = register_module(
          "sr",
          torch::nn::Conv2d(torch::nn::Conv2dOptions(o.dim, o.dim, o.sr_ratio).stride(o.sr_ratio)));
      norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim})));
    }
  } else {
    qkv = register_module(
        "qkv", torch::nn::Linear(torch::nn::LinearOptions(o.dim, 3 * o.dim).bias(o.qkv_bias)));
  }
  attn_drop = register_module("attn_drop", layers::Dropout(o.attn_drop));
  proj = register_module("proj", torch::nn::Linear(o.dim, o.dim));
  proj_drop = register_module("proj_drop", layers::Dropout(o.proj_drop));
  dwc = register_module(
      "dwc", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.dim, o.dim, 3).padding(1).groups(o.dim)));
  const int64_t h = o.num_heads, a = o.agent_num;
  auto bias = [&](const char* name, std::vector<int64_t> shape) {
    at::Tensor t = at::zeros(shape);
    layers::trunc_normal_(t, 0.02);
    return register_parameter(name, t);
  };
  an_bias = bias("an_bias", {h, a, 7, 7});
  na_bias = bias("na_bias", {h, a, 7, 7});
  ah_bias = bias("ah_bias", {1, h, a, o.height / o.sr_ratio, 1});
  aw_bias = bias("aw_bias", {1, h, a, 1, o.width / o.sr_ratio});
  ha_bias = bias("ha_bias", {1, h, o.height, 1, a});
  wa_bias = bias("wa_bias", {1, h, 1, o.width, a});
  if (o.cls_token) {
    ac_bias = bias("ac_bias", {1, h, a, 1});
    ca_bias = bias("ca_bias", {1, h, 1, a});
  }
}

at::Tensor AgentAttentionImpl::agent_bias() const {
  const AgentAttentionOptions& o = options_;
  const at::Tensor resized = at::upsample_bilinear2d(
      an_bias, {o.height / o.sr_ratio, o.width / o.sr_ratio}, false);  // the key map
  return resized.reshape({o.num_heads, o.agent_num, -1}) +
         (ah_bias + aw_bias).reshape({o.num_heads, o.agent_num, -1});
}

at::Tensor AgentAttentionImpl::query_bias() const {
  const AgentAttentionOptions& o = options_;
  const at::Tensor resized = at::upsample_bilinear2d(na_bias, {o.height, o.width}, false);
  return resized.reshape({o.num_heads, o.agent_num, -1}).transpose(1, 2) +
         (ha_bias + wa_bias).reshape({o.num_heads, -1, o.agent_num});
}

at::Tensor AgentAttentionImpl::forward(const at::Tensor& x) {
  const AgentAttentionOptions& o = options_;
  TORCH_CHECK(x.dim() == 3 && x.size(2) == o.dim, "AgentAttention: expected [B, N, ", o.dim,
              "], got shape ", x.sizes());
  const int64_t extra = o.cls_token ? 1 : 0;
  TORCH_CHECK(x.size(1) == o.height * o.width + extra, "AgentAttention: ", x.size(1),
              " tokens, but the module was built for a ", o.height, "x", o.width, " map",
              o.cls_token ? " plus a class token" : "", " (its position biases have that size)");
  const int64_t b = x.size(0), n = x.size(1), c = o.dim, heads = o.num_heads, d = c / heads;
  at::Tensor q_all, k, v;  // [b, n, c]
  const int64_t kh_size = o.height / o.sr_ratio, kw_size = o.width / o.sr_ratio;
  if (o.separate_qkv) {
    q_all = this->q->forward(x);
    at::Tensor source = x;
    if (sr)  // keys and values from the reduced map
      source = norm->forward(sr->forward(x.permute({0, 2, 1}).reshape({b, c, o.height, o.width}))
                                 .reshape({b, c, -1})
                                 .permute({0, 2, 1}));
    // unbind: one stacked gradient in backward instead of a zero-filled kv-sized one per part.
    const std::vector<at::Tensor> kv_out =
        this->kv->forward(source).reshape({b, source.size(1), 2, c}).unbind(2);
    k = kv_out[0];
    v = kv_out[1];
  } else {
    const std::vector<at::Tensor> qkv_out = qkv->forward(x).reshape({b, n, 3, c}).unbind(2);
    q_all = qkv_out[0];
    k = qkv_out[1];
    v = qkv_out[2];
  }
  const at::Tensor& q = q_all;
  auto split_heads = [&](const at::Tensor& t) {
    return t.reshape({b, t.size(1), heads, d}).permute({0, 2, 1, 3});
  };
  const at::Tensor agents = split_heads(
      at::adaptive_avg_pool2d(
          q.narrow(1, extra, n - extra).reshape({b, o.height, o.width, c}).permute({0, 3, 1, 2}),
          {pool_size_, pool_size_})
          .reshape({b, c, -1})
          .permute({0, 2, 1}));  // [b, heads, n_a, d]
  const at::Tensor qh = split_heads(q), kh = split_heads(k), vh = split_heads(v);

  // Agent aggregation, then broadcast: two softmaxes.
  at::Tensor b1 = agent_bias(), b2 = query_bias();
  if (o.cls_token) {
    b1 = at::cat({ac_bias[0], b1}, -1);  // the class token as key 0
    b2 = at::cat({ca_bias[0], b2}, -2);  // and as query 0
  }
  at::Tensor agent_attn = at::softmax(at::matmul(agents * scale_, kh.transpose(-2, -1)) + b1, -1);
  const at::Tensor agent_v = at::matmul(attn_drop->forward(agent_attn), vh);
  at::Tensor q_attn = at::softmax(at::matmul(qh * scale_, agents.transpose(-2, -1)) + b2, -1);
  at::Tensor out =
      at::matmul(attn_drop->forward(q_attn), agent_v).transpose(1, 2).reshape({b, n, c});

  // Depthwise conv of V as a map restores diversity the agents average away.
  at::Tensor v_map =
      v.narrow(1, extra, v.size(1) - extra).reshape({b, kh_size, kw_size, c}).permute({0, 3, 1, 2});
  if (sr) v_map = at::upsample_bilinear2d(v_map, {o.height, o.width}, false);
  const at::Tensor local = dwc->forward(v_map).permute({0, 2, 3, 1}).reshape({b, n - extra, c});
  out = extra ? at::cat({out.narrow(1, 0, 1), out.narrow(1, 1, n - 1) + local}, 1) : out + local;
  return proj_drop->forward(proj->forward(out));
}

}  // namespace vitrine::attention
