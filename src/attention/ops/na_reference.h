// Reference neighborhood attention for tests and benchmarks: neighbour tables built by
// plain loops straight from ../shared/specs/neighborhood-attention.md (deliberately not
// sharing na_index.h, so the two check each other), and the ops written with stock
// libtorch gathers and matmuls — differentiable through libtorch's own autograd. Slow and
// memory-hungry (materialises every key of every window); never used by models.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <vector>

namespace vitrine::attention::reference {

struct NeighborTable {
  at::Tensor key;    // [T, W] int64: linear index of each window slot's key (0 when unused)
  at::Tensor valid;  // [T, W] bool: slot holds a key (false only for causal windows)
  at::Tensor bias;   // [T, W] int64: linear index into the flattened rpb of one head
};

// Keys of query `i` on one axis, in window-slot order.
std::vector<int64_t> axis_window(int64_t i, int64_t length, int64_t kernel, int64_t dilation,
                                 bool causal);

NeighborTable neighbor_table(const std::vector<int64_t>& lengths,
                             const std::vector<int64_t>& kernel,
                             const std::vector<int64_t>& dilation, const std::vector<bool>& causal);

// Same contracts as the ops (heads-first tensors; per-axis lists with one entry per axis).
at::Tensor qk(const at::Tensor& q, const at::Tensor& k, const c10::optional<at::Tensor>& rpb,
              const std::vector<int64_t>& kernel, const std::vector<int64_t>& dilation,
              const std::vector<bool>& causal);
at::Tensor av(const at::Tensor& attn, const at::Tensor& v, const std::vector<int64_t>& kernel,
              const std::vector<int64_t>& dilation, const std::vector<bool>& causal);
at::Tensor fused(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                 const c10::optional<at::Tensor>& rpb, const std::vector<int64_t>& kernel,
                 const std::vector<int64_t>& dilation, const std::vector<bool>& causal,
                 double scale);

// The same with a table built once (what a PyTorch implementation would cache); the table
// must come from neighbor_table() for the tensors' spatial sizes.
at::Tensor qk(const at::Tensor& q, const at::Tensor& k, const c10::optional<at::Tensor>& rpb,
              const NeighborTable& table);
at::Tensor av(const at::Tensor& attn, const at::Tensor& v, const NeighborTable& table);
at::Tensor fused(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                 const c10::optional<at::Tensor>& rpb, const NeighborTable& table, double scale);

}  // namespace vitrine::attention::reference
