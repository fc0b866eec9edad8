#include "attention/ops/na_reference.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>

namespace vitrine::attention::reference {

std::vector<int64_t> axis_window(int64_t i, int64_t length, int64_t kernel, int64_t dilation,
                                 bool causal) {
  const int64_t group = i % dilation;
  const int64_t position = i / dilation;  // coordinate inside the dilation group
  int64_t group_length = 0;
  for (int64_t x = 0; x < length; ++x)
    if (x % dilation == group) ++group_length;
  std::vector<int64_t> keys;
  if (causal) {
    for (int64_t p = std::max<int64_t>(position - kernel + 1, 0); p <= position; ++p)
      keys.push_back(p * dilation + group);
  } else {
    const int64_t start =
        std::min(std::max<int64_t>(position - kernel / 2, 0), group_length - kernel);
    for (int64_t p = start; p < start + kernel; ++p) keys.push_back(p * dilation + group);
  }
  return keys;
}

NeighborTable neighbor_table(const std::vector<int64_t>& lengths,
                             const std::vector<int64_t>& kernel,
                             const std::vector<int64_t>& dilation,
                             const std::vector<bool>& causal) {
  const size_t axes = lengths.size();
  int64_t tokens = 1, window = 1;
  for (size_t a = 0; a < axes; ++a) {
    tokens *= lengths[a];
    window *= kernel[a];
  }
  at::Tensor key = at::zeros({tokens, window}, at::kLong);
  at::Tensor valid = at::zeros({tokens, window}, at::kBool);
  at::Tensor bias = at::zeros({tokens, window}, at::kLong);
  auto key_a = key.accessor<int64_t, 2>();
  auto valid_a = valid.accessor<bool, 2>();
  auto bias_a = bias.accessor<int64_t, 2>();

  std::vector<int64_t> query(axes, 0);
  for (int64_t t = 0; t < tokens; ++t) {
    // Row-major decode of the query token.
    int64_t rest = t;
    for (size_t a = axes; a-- > 0;) {
      query[a] = rest % lengths[a];
      rest /= lengths[a];
    }
    std::vector<std::vector<int64_t>> keys(axes);
    for (size_t a = 0; a < axes; ++a)
      keys[a] = axis_window(query[a], lengths[a], kernel[a], dilation[a], causal[a]);
    // Every slot of the full K0 x K1 x ... window, row-major.
    for (int64_t s = 0; s < window; ++s) {
      int64_t slot_rest = s;
      std::vector<int64_t> slot(axes);
      for (size_t a = axes; a-- > 0;) {
        slot[a] = slot_rest % kernel[a];
        slot_rest /= kernel[a];
      }
      bool ok = true;
      int64_t key_linear = 0, bias_linear = 0;
      for (size_t a = 0; a < axes; ++a) {
        if (slot[a] >= static_cast<int64_t>(keys[a].size())) {
          ok = false;
          break;
        }
        const int64_t j = keys[a][slot[a]];
        key_linear = key_linear * lengths[a] + j;
        bias_linear =
            bias_linear * (2 * kernel[a] - 1) + (kernel[a] - 1) + (j - query[a]) / dilation[a];
      }
      if (!ok) continue;
      key_a[t][s] = key_linear;
      valid_a[t][s] = true;
      bias_a[t][s] = bias_linear;
    }
  }
  return {key, valid, bias};
}

namespace {

struct Flat {
  int64_t batch, heads, tokens;
  std::vector<int64_t> lengths;
};

Flat flat_of(const at::Tensor& t) {
  Flat f{t.size(0), t.size(1), 1, {}};
  for (int64_t a = 2; a < t.dim() - 1; ++a) {
    f.lengths.push_back(t.size(a));
    f.tokens *= t.size(a);
  }
  return f;
}

// [B, H, T, W, C]: every window slot's row of `x` ([B, H, *spatial, C]).
at::Tensor gather_windows(const at::Tensor& x, const Flat& f, const NeighborTable& table) {
  at::Tensor flat = x.reshape({f.batch, f.heads, f.tokens, x.size(-1)});
  return flat.index_select(2, table.key.reshape({-1}))
      .view({f.batch, f.heads, f.tokens, table.key.size(1), x.size(-1)});
}

}  // namespace

at::Tensor qk(const at::Tensor& q, const at::Tensor& k, const c10::optional<at::Tensor>& rpb,
              const NeighborTable& table) {
  const Flat f = flat_of(q);
  at::Tensor keys = gather_windows(k, f, table);  // [B, H, T, W, D]
  // One flat bmm ([W, D] x [D, 1] per query): the fastest stock form measured here
  // (einsum is close; broadcast multiply + sum and 5-D matmul are slower).
  const int64_t window = table.key.size(1), dim = q.size(-1);
  at::Tensor logits = at::bmm(keys.reshape({-1, window, dim}), q.reshape({-1, dim, 1}))
                          .view({f.batch, f.heads, f.tokens, window});
  if (rpb && rpb->defined()) {
    at::Tensor bias = rpb->reshape({f.heads, -1}).index_select(1, table.bias.reshape({-1}));
    logits = logits + bias.view({1, f.heads, f.tokens, table.key.size(1)});
  }
  logits = logits.masked_fill(table.valid.logical_not(), -std::numeric_limits<double>::infinity());
  std::vector<int64_t> shape = q.sizes().vec();
  shape.back() = table.key.size(1);
  return logits.view(shape);
}

at::Tensor av(const at::Tensor& attn, const at::Tensor& v, const NeighborTable& table) {
  const Flat f = flat_of(v);
  at::Tensor values = gather_windows(v, f, table);  // [B, H, T, W, Dv]
  const int64_t window = table.key.size(1), dim = v.size(-1);
  at::Tensor weights = attn.reshape({f.batch, f.heads, f.tokens, window})
                           .masked_fill(table.valid.logical_not().view({1, 1, f.tokens, -1}), 0);
  return at::bmm(weights.reshape({-1, 1, window}), values.reshape({-1, window, dim}))
      .view(v.sizes());
}

at::Tensor fused(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                 const c10::optional<at::Tensor>& rpb, const NeighborTable& table, double scale) {
  return av(at::softmax(qk(q * scale, k, rpb, table), -1), v, table);
}

at::Tensor qk(const at::Tensor& q, const at::Tensor& k, const c10::optional<at::Tensor>& rpb,
              const std::vector<int64_t>& kernel, const std::vector<int64_t>& dilation,
              const std::vector<bool>& causal) {
  return qk(q, k, rpb, neighbor_table(flat_of(q).lengths, kernel, dilation, causal));
}

at::Tensor av(const at::Tensor& attn, const at::Tensor& v, const std::vector<int64_t>& kernel,
              const std::vector<int64_t>& dilation, const std::vector<bool>& causal) {
  return av(attn, v, neighbor_table(flat_of(v).lengths, kernel, dilation, causal));
}

at::Tensor fused(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                 const c10::optional<at::Tensor>& rpb, const std::vector<int64_t>& kernel,
                 const std::vector<int64_t>& dilation, const std::vector<bool>& causal,
                 double scale) {
  return fused(q, k, v, rpb, neighbor_table(flat_of(q).lengths, kernel, dilation, causal), scale);
}

}  // namespace vitrine::attention::reference
