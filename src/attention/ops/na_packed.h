// Fused neighborhood attention on a qkv projection as its linear layer returns it, for
// float32 CPU tensors: the kernels read q, k and v and write the output and every gradient
// in the token-major layouts of the surrounding linear layers, where going through the
// head-major op costs a copy of q, k, v and the output in each direction (~8% of a training
// step of the embedded default).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <vector>

namespace vitrine::attention::na {

// Checks qkv's shape ([B, *spatial, 3 * heads * D] with 1 to 3 spatial axes) and returns D;
// throws c10::Error naming the problem.
int64_t packed_head_dim(const at::Tensor& qkv, int64_t heads);

// qkv [B, *spatial, 3 * heads * D] (q, k, v, each heads x D) -> [B, *spatial, heads * D],
// softmax(q·k * scale + rpb) v over each window; differentiable in qkv and rpb. Per-axis lists
// hold one entry per spatial axis. Needs CPU float32 (neighborhood_attention_packed in
// na_functional.h picks this or the general path).
at::Tensor packed_fused_cpu(const at::Tensor& qkv, int64_t heads,
                            const c10::optional<at::Tensor>& rpb,
                            const std::vector<int64_t>& kernel_size,
                            const std::vector<int64_t>& dilation,
                            const std::vector<bool>& is_causal, double scale);

}  // namespace vitrine::attention::na
