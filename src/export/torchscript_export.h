// TorchScript export of zoo models (the C++ frontend has no public path for C++-built
// modules): the model's module tree is mirrored as torch::jit::Modules sharing its tensors
// (same names, so the file's state dict is the checkpoint's), one image is traced through
// the C++ forward into a method `forward_one`, and a scripted `forward` runs it over the
// images of any batch — tracing bakes C++ integer sizes in, so a traced batch dimension
// would not generalise; the spatial size stays the traced one.
//   part full:     forward(images) -> the model's output (logits, SR image, detector's
//                  [B, anchors, C + 4], segmentor's logits at the input size)
//   part backbone: forward(images) -> tuple of the feature pyramid's levels
//   portable:      neighborhood attention traced as stock ops (gathers, bmm, softmax) instead
//                  of the `vitrine::` custom ops, so the file runs in any libtorch / PyTorch
//                  of this version or newer with nothing else loaded.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <string>
#include <vector>

#include "models/registry.h"

namespace vitrine::exporter {

struct ExportOptions {
  bool backbone = false;                       // part=backbone
  bool portable = false;                       // stock ops only
  std::vector<int64_t> input{1, 3, 224, 224};  // [B, C, H, W] of the example input
};

// The exported module (in eval mode). Throws ConfigError for an input shape the model cannot
// take, naming the model and the shape.
torch::jit::Module export_torchscript(models::Model& model, const std::string& name,
                                      const ExportOptions& options);

// The model's own outputs for `images` (eval mode, no autograd), in the exported module's
// layout: one tensor, or the pyramid's levels.
std::vector<at::Tensor> eager_outputs(models::Model& model, const at::Tensor& images,
                                      bool backbone);
// The exported module's outputs for `images`.
std::vector<at::Tensor> exported_outputs(torch::jit::Module& module, const at::Tensor& images);
// Largest absolute difference between two output lists (infinity when their shapes differ).
double max_abs_difference(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b);

}  // namespace vitrine::exporter
