#include "attention/token_aggregation.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "attention/multi_head_attention.h"

namespace vitrine::attention {
namespace {

at::Tensor normalize_rows(const at::Tensor& x) {
  return x / x.norm(2, -1, /*keepdim=*/true).clamp_min(1e-12);  // F.normalize
}

}  // namespace

at::Tensor spherical_kmeans_step(const at::Tensor& x, const at::Tensor& means) {
  const int64_t b = x.size(0), d = x.size(2), k = means.size(0);
  const at::Tensor buckets = at::einsum("bld,cd->blc", {x, means}).argmax(-1);  // [B, N]
  const at::Tensor counts = at::zeros({k}, buckets.options())
                                .index_add_(0, buckets.flatten(), at::ones_like(buckets.flatten()));
  const at::Tensor sums =
      at::zeros({b, k, d}, x.options())
          .scatter_add(1, buckets.unsqueeze(-1).expand({b, buckets.size(1), d}), x)
          .sum(0);
  return at::where((counts == 0).unsqueeze(-1), means, normalize_rows(sums));
}

at::Tensor mirror_pad_index(int64_t length, int64_t padded, const at::Device& device) {
  TORCH_CHECK(length > 0 && padded >= length, "mirror_pad_index: bad sizes");
  at::Tensor j = at::arange(padded, at::TensorOptions(at::kLong).device(device));
  const at::Tensor r = j.remainder(2 * length);
  return at::where(r < length, r, 2 * length - 1 - r);
}

at::Tensor gather_tokens(const at::Tensor& x, const at::Tensor& order) {
  return x.gather(1, order.unsqueeze(-1).expand({x.size(0), x.size(1), x.size(2)}));
}

at::Tensor scatter_tokens(const at::Tensor& y, const at::Tensor& order) {
  return at::zeros_like(y).scatter(1, order.unsqueeze(-1).expand({y.size(0), y.size(1), y.size(2)}),
                                   y);
}

at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& k_global, const at::Tensor& v_global, int64_t heads,
                             int64_t group_size) {
  const int64_t B = q.size(0), N = q.size(1);
  const int64_t gs = std::min(N, group_size), ng = (N + gs - 1) / gs, pad = ng * gs - N;
  const int64_t dq = q.size(2) / heads, dv = v.size(2) / heads;
  // Queries: N tokens mirrored to ng * gs, as [B, ng, heads, gs, d].
  const at::Tensor q_index = mirror_pad_index(N, ng * gs, q.device());
  const at::Tensor qg =
      q.index_select(1, q_index).reshape({B, ng, gs, heads, dq}).permute({0, 1, 3, 2, 4});
  // Keys/values: mirrored to (ng + 1) * gs, windows of 2 gs at step gs.
  const at::Tensor kv_index = mirror_pad_index(N, (ng + 1) * gs, q.device());
  auto windows = [&](const at::Tensor& t, int64_t d) {
    return t.index_select(1, kv_index)
        .unfold(1, 2 * gs, gs)  // [B, ng, heads * d, 2 gs]
        .reshape({B, ng, heads, d, 2 * gs})
        .transpose(-1, -2);  // [B, ng, heads, 2 gs, d]
  };
  const at::Tensor local = scaled_dot_product_attention(qg, windows(k, dq), windows(v, dv));
  const at::Tensor global = scaled_dot_product_attention(qg, k_global.unsqueeze(0).unsqueeze(0),
                                                         v_global.unsqueeze(0).unsqueeze(0));
  return (local + global)
      .permute({0, 1, 3, 2, 4})
      .reshape({B, ng * gs, heads * dv})
      .narrow(1, 0, N);
}

TokenAggregationBlockImpl::TokenAggregationBlockImpl(TokenAggregationOptions o) : options_(o) {
  TORCH_CHECK(o.dim > 0 && o.heads > 0 && o.qk_dim % o.heads == 0 && o.dim % o.heads == 0,
              "TokenAggregationBlock: qk_dim ", o.qk_dim, " and dim ", o.dim,
              " must be multiples of heads ", o.heads);
  TORCH_CHECK(o.n_iter >= 1 && o.num_tokens >= 1 && o.group_size >= 1,
              "TokenAggregationBlock: n_iter, num_tokens and group_size must be positive");
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim})));
  auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());  // PreNorm
  mlp_norm =
      mlp->register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim})));
  mlp_fn = mlp->register_module("fn", layers::ConvFFN(o.dim, o.mlp_dim));
  auto linear = [](int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
  };
  auto irca = register_module("irca_attn", std::make_shared<torch::nn::Module>());
  irca_to_k = irca->register_module("to_k", linear(o.dim, o.qk_dim));
  irca_to_v = irca->register_module("to_v", linear(o.dim, o.dim));
  auto iasa = register_module("iasa_attn", std::make_shared<torch::nn::Module>());
  iasa_to_q = iasa->register_module("to_q", linear(o.dim, o.qk_dim));
  iasa_to_k = iasa->register_module("to_k", linear(o.dim, o.qk_dim));
  iasa_to_v = iasa->register_module("to_v", linear(o.dim, o.dim));
  iasa_proj = iasa->register_module("proj", linear(o.dim, o.dim));
  means = register_buffer("means", at::randn({o.num_tokens, o.dim}));
  initted = register_buffer("initted", at::zeros({}, at::kBool));
  conv1x1 = register_module(
      "conv1x1", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.dim, o.dim, 1).bias(false)));
}

bool TokenAggregationBlockImpl::initialised() const {
  return initted.item<double>() != 0;
}

at::Tensor TokenAggregationBlockImpl::seed_centres(const at::Tensor& x) const {
  // The official seeding: mirror-pad N by num_tokens - N % num_tokens (a whole extra chunk when
  // N divides), cut into num_tokens contiguous chunks, mean over batch and chunk.
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), K = options_.num_tokens;
  const int64_t padded = N + (K - N % K);
  const at::Tensor xp = x.index_select(1, mirror_pad_index(N, padded, x.device()));
  return xp.reshape({B, K, padded / K, C}).mean(at::IntArrayRef{0, 2});
}

at::Tensor TokenAggregationBlockImpl::forward(const at::Tensor& input) {
  const TokenAggregationOptions& o = options_;
  TORCH_CHECK(input.dim() == 4 && input.size(1) == o.dim, "TokenAggregationBlock: expected [B, ",
              o.dim, ", H, W], got shape ", input.sizes());
  const int64_t B = input.size(0), h = input.size(2), w = input.size(3), N = h * w;
  const at::Tensor residual = input.flatten(2).transpose(1, 2);  // [B, N, C]
  const at::Tensor x = norm->forward(residual);
  const bool seeded = initialised();

  at::Tensor centres = seeded ? means.detach() : seed_centres(x).detach();
  const at::Tensor xn = normalize_rows(x);
  if (is_training()) {
    at::NoGradGuard no_grad;
    for (int64_t i = 0; i < o.n_iter - 1; ++i)
      centres = spherical_kmeans_step(xn.detach(), normalize_rows(centres));
  }
  // IRCA: the last k-means step keeps the gradient to the tokens; evaluation uses the buffer.
  const at::Tensor global =
      is_training() ? spherical_kmeans_step(xn, normalize_rows(centres)) : centres;
  const int64_t heads = o.heads;
  const at::Tensor k_global =
      irca_to_k->forward(global).reshape({-1, heads, o.qk_dim / heads}).transpose(0, 1);
  const at::Tensor v_global =
      irca_to_v->forward(global).reshape({-1, heads, o.dim / heads}).transpose(0, 1);
  centres = global.detach();
  last_centres_ = centres;

  at::Tensor order;
  {
    at::NoGradGuard no_grad;
    const at::Tensor belong =
        at::einsum("bic,jc->bij", {xn, normalize_rows(centres)}).argmax(-1);  // [B, N]
    order = std::get<1>(at::sort(belong, /*stable=*/true, /*dim=*/-1, /*descending=*/false));
  }
  const at::Tensor q = gather_tokens(iasa_to_q->forward(x), order);
  const at::Tensor k = gather_tokens(iasa_to_k->forward(x), order);
  const at::Tensor v = gather_tokens(iasa_to_v->forward(x), order);
  at::Tensor y =
      scatter_tokens(grouped_attention(q, k, v, k_global, v_global, heads, o.group_size), order);
  y = iasa_proj->forward(y);
  y = conv1x1->forward(y.transpose(1, 2).reshape({B, o.dim, h, w}));
  at::Tensor out = residual + y.flatten(2).transpose(1, 2);
  out = mlp_fn->forward(mlp_norm->forward(out), h, w) + out;

  if (is_training()) {
    at::NoGradGuard no_grad;
    if (!seeded) {
      means.copy_(centres);
      initted.fill_(true);
    } else {
      means.mul_(o.ema_decay).add_(centres, 1.0 - o.ema_decay);
    }
  }
  return out.transpose(1, 2).reshape({B, o.dim, h, w});
}

double TokenAggregationBlockImpl::macs(int64_t h, int64_t w) const {
  const TokenAggregationOptions& o = options_;
  const double n = static_cast<double>(h) * w, c = static_cast<double>(o.dim),
               qk = static_cast<double>(o.qk_dim), k = static_cast<double>(o.num_tokens);
  const double gs = std::min<double>(n, o.group_size);
  const double padded = std::ceil(n / gs) * gs;
  double total = n * c * (2 * qk + 2 * c);                  // to_q, to_k, to_v, proj
  total += k * c * (qk + c);                                // to_k/to_v of the centres
  total += padded * (2 * gs + k) * (qk + c);                // group and centre attention
  total += n * k * c * (is_training() ? o.n_iter + 1 : 1);  // similarities
  total += n * c * c;                                       // conv1x1
  total += mlp_fn->macs(n) + 2 * 5 * n * c;                 // ConvFFN, the two LayerNorms
  return total;
}

}  // namespace vitrine::attention
