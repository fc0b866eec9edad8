// Shape of a hierarchical neighborhood-attention backbone (NAT, DiNAT, DiNAT_s): four levels
// of NA transformer layers at strides 4, 8, 16, 32, channels C, 2C, 4C, 8C.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/view.h"

namespace vitrine::models {

// NAT/DiNAT: conv tokenizer and downsamplers, stages named `levels`. DiNAT_s: Swin's patch
// embedding and patch merging, stages named `layers`.
enum class NATLayout { kNAT, kDiNATs };

struct NATConfig {
  NATLayout layout = NATLayout::kNAT;
  int64_t embed_dim = 64;
  std::vector<int64_t> depths{3, 4, 18, 5};
  std::vector<int64_t> num_heads{2, 4, 8, 16};
  double mlp_ratio = 3.0;
  int64_t kernel_size = 7;
  // NAT's ConvTokenizer downsamples 4x with two stride-2 convs; 2 makes its second conv
  // stride 1 (same parameters) for small images such as 28x28, where 4x leaves 7x7 tokens.
  int64_t stem_stride = 4;
  // A GELU between the tokenizer's two convs (ours, not NAT's: its two convs compose to one
  // linear 7x7 stride-4 map). Its parameters are named proj.0 and proj.2 then.
  bool stem_activation = false;
  // The tokenizer's hidden channels (between its convs); 0: embed_dim / 2 as in NAT.
  int64_t stem_width = 0;
  // Extra 3x3 stride-1 convs, each followed by a GELU, at the hidden resolution (ours: for
  // small images a little conv stage before the tokens is cheap inductive bias). Needs
  // stem_activation, else the convs compose to one linear map again.
  int64_t stem_convs = 0;
  // 0: NAT's MLP; k: a depthwise k x k conv inside it (NATLayerOptions::mlp_dwconv).
  int64_t mlp_dwconv = 0;
  // 0: none; k: a depthwise k x k conv residual before each layer (NATLayerOptions::cpe).
  int64_t cpe = 0;
  int64_t stem_hidden() const { return stem_width > 0 ? stem_width : embed_dim / 2; }
  // Per level, per layer; empty means dilation 1 everywhere (NAT).
  std::vector<std::vector<int64_t>> dilations;
  double drop_path_rate = 0.2;
  double layer_scale = 0;  // 0: no layer scale
  int64_t in_chans = 3;
  int64_t num_classes = 1000;  // 0: no classifier (features only)
  // The dense-prediction backbone of the official detection/segmentation code: a LayerNorm
  // per pyramid level (norm0..norm3) applied to forward_features' outputs, and neither the
  // final `norm` nor a classifier (needs num_classes 0).
  bool out_norms = false;
  bool qkv_bias = true;
  double qk_scale = 0;  // 0: head_dim^-0.5
  double drop_rate = 0, attn_drop_rate = 0;

  int64_t dilation(size_t level, size_t layer) const {
    return dilations.empty() ? 1 : dilations[level][layer];
  }
  // Throws ConfigError naming `where` for an inconsistent shape (list lengths, odd kernel,
  // heads that do not divide the level's channels, dilations < 1).
  void validate(const std::string& where) const;
};

// Token side after one downsampling (3x3 stride-2 conv with padding 1, or a padded 2x2 merge).
inline int64_t halve_side(int64_t side) {
  return (side + 1) / 2;
}

// DiNAT's schedule for images of `img_size`: within each level, layers alternate dilation 1
// and floor(level side / kernel_size) (at least 1), starting with 1. At 224 with K=7 this is
// the paper's [1,8,1], [1,4,1,4], [1,2,...], [1,...]; at 384, [1,13,1], [1,6,...], [1,3,...].
std::vector<std::vector<int64_t>> dinat_dilations(const std::vector<int64_t>& depths,
                                                  int64_t img_size, int64_t kernel_size);

// Applies the overridable keys of a model config node (model.*) to `base`: num_classes,
// in_chans, drop_path_rate, drop_rate, attn_drop_rate, kernel_size, dilations (a list per
// level, or an int image size to derive DiNAT's schedule for), layer_scale. Unknown keys are
// errors; `name` and `pretrained[_strict]` are read by ModelRegistry::create.
NATConfig apply_overrides(NATConfig base, const config::ConfigView& view);

}  // namespace vitrine::models
