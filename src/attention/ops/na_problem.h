// One neighborhood-attention problem, validated: sizes of every axis in a canonical
// three-axis form (1-D and 2-D problems get leading axes of length 1 with K = d = 1), so a
// single set of kernels serves NA1D, NA2D and NA3D.
#pragma once

#include <ATen/core/List.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <string>

#include "na/common/na_geometry.h"

namespace vitrine::attention::na {

constexpr int kMaxAxes = 3;

struct Problem {
  std::string op;  // "na2d_qk", for messages
  int axes = 0;    // 1, 2 or 3 (spatial axes of the user's tensors)
  int64_t batch = 0, heads = 0, dim = 0, value_dim = 0;
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
  // Canonical three-axis sizes (leading unit axes for 1-D/2-D).
  int64_t length[kMaxAxes] = {1, 1, 1};
  int64_t kernel[kMaxAxes] = {1, 1, 1};
  int64_t dilation[kMaxAxes] = {1, 1, 1};
  bool causal[kMaxAxes] = {false, false, false};

  int64_t tokens() const { return length[0] * length[1] * length[2]; }
  int64_t window_size() const { return kernel[0] * kernel[1] * kernel[2]; }
  int64_t bias_extent(int axis) const { return 2 * kernel[axis] - 1; }
  int64_t bias_size() const { return bias_extent(0) * bias_extent(1) * bias_extent(2); }
  bool any_causal() const { return causal[0] || causal[1] || causal[2]; }
};

// Validates `q` ([B, heads, *spatial, D] with `axes` spatial axes) and the per-axis
// parameters (a length-1 list applies to every axis). Throws c10::Error with a message
// naming the op, the axis and the numbers at fault.
Problem describe(const std::string& op, int axes, const at::Tensor& q, at::IntArrayRef kernel_size,
                 at::IntArrayRef dilation, const c10::List<bool>& is_causal);

// "na2d_qk" from ("_qk", 2).
std::string op_name(const char* stem, int axes);

// The validated problem of each op (the checks every backend shares): naNd_qk (q, k, rpb),
// naNd_av (attn, v; value_dim = v's last dim) and the fused naNd (q, k, v, rpb).
Problem describe_qk(const std::string& op, int axes, const at::Tensor& q, const at::Tensor& k,
                    const c10::optional<at::Tensor>& rpb, at::IntArrayRef kernel_size,
                    at::IntArrayRef dilation, const c10::List<bool>& is_causal);
Problem describe_av(const std::string& op, int axes, const at::Tensor& attn, const at::Tensor& v,
                    at::IntArrayRef kernel_size, at::IntArrayRef dilation,
                    const c10::List<bool>& is_causal);
Problem describe_fused(const std::string& op, int axes, const at::Tensor& q, const at::Tensor& k,
                       const at::Tensor& v, const c10::optional<at::Tensor>& rpb,
                       at::IntArrayRef kernel_size, at::IntArrayRef dilation,
                       const c10::List<bool>& is_causal);

// The problem's sizes as kernel data.
Geometry geometry(const Problem& p);

// Checks that `t` has q's batch, heads and spatial sizes (last dim free) and dtype.
void check_like_query(const Problem& p, const at::Tensor& t, const char* name);
// Checks attention weights: [B, heads, *spatial, prod(K)], q's dtype.
void check_attention(const Problem& p, const at::Tensor& attn);
// Checks a relative positional bias: [heads, 2K0-1, (2K1-1, (2K2-1))], no causal axis.
void check_rpb(const Problem& p, const at::Tensor& rpb);

// Views a user tensor [B, heads, *spatial, X] as contiguous [B, heads, L0, L1, L2, X].
at::Tensor canonical(const Problem& p, const at::Tensor& t);
// Views a bias [heads, *extents] as contiguous [heads, E0, E1, E2].
at::Tensor canonical_rpb(const Problem& p, const at::Tensor& rpb);
// Shape of a user-facing tensor with last dim `last`: [B, heads, *spatial, last].
std::vector<int64_t> user_shape(const Problem& p, int64_t last);
std::vector<int64_t> rpb_shape(const Problem& p);

}  // namespace vitrine::attention::na
