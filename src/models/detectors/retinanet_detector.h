// RetinaNet (Lin et al. 2017) as mmdetection assembles it: a zoo backbone's feature pyramid,
// a neck (mmdet's FPN on C3..C5 with P6/P7 by stride-2 convs on C5 — `add_extra_convs:
// on_input` — or A3-FPN on C2..C5 whose P3..P5 outputs are kept and P6/P7 added by stride-2
// convs on its output), and the RetinaHead over P3..P7 with anchors of strides 8..128.
// Submodules are named backbone / neck / bbox_head as in mmdet, so its checkpoints map by name.
//   forward(images) -> [B, N, C + 4]: every anchor's class logits then box deltas, anchors in
//   grid_anchors order (level, cell row-major, anchor within the cell): one tensor, so the
//   trainer's batch splitting, EMA and export treat a detector like any other model.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "models/detectors/anchors.h"
#include "models/detectors/retinanet.h"
#include "models/heads/retina_head.h"
#include "models/necks/a3fpn.h"
#include "models/necks/fpn.h"
#include "models/registry.h"

namespace vitrine::models {

struct RetinaNetOptions {
  int64_t num_classes = 80;
  std::string neck = "fpn";  // fpn | a3fpn | a3fpn_lite
  int64_t neck_channels = 256;
  int64_t head_channels = 256;
  int64_t stacked_convs = 4;
  // mmdet's ResNet settings for a pretrained backbone: frozen_stages k freezes the stem and
  // layer1..layerk (no gradient, BN in eval mode); norm_eval keeps every backbone BatchNorm in
  // eval mode while training (statistics of batches of 2 would wreck pretrained ones).
  int64_t frozen_stages = -1;
  bool norm_eval = false;
  AnchorOptions anchors;
  RetinaTestOptions test;
};

class RetinaNetDetector : public Model {
 public:
  RetinaNetDetector(ModelPtr backbone, RetinaNetOptions options);

  at::Tensor forward(const at::Tensor& images) override;
  // The neck's levels P3..P7.
  std::vector<at::Tensor> forward_features(const at::Tensor& images) override;
  // A detector has no classifier: throws.
  at::Tensor forward_head(const at::Tensor& last_level) override;
  std::vector<int64_t> feature_channels() const override;
  // Backbone + neck (FPN; A3-FPN's body is not counted) + head multiply-adds at a square input.
  double flops(int64_t img_size) const override;
  std::vector<std::string> no_weight_decay_keywords() const override {
    return backbone_->no_weight_decay_keywords();
  }

  // Keeps frozen stages and (norm_eval) the backbone's BatchNorms in eval mode.
  void train(bool on = true) override;

  RetinaOutputs head_outputs(const at::Tensor& images);
  // Anchors of each level for a padded input of height x width (the sizes forward produces).
  std::vector<at::Tensor> anchors(int64_t height, int64_t width) const;
  // [B, N, C + 4] (forward's output) -> per-level outputs in the head's layout.
  RetinaOutputs split_flat(const at::Tensor& flat, int64_t height, int64_t width) const;

  const RetinaNetOptions& options() const { return options_; }
  Model& backbone() { return *backbone_; }

 private:
  std::vector<std::pair<int64_t, int64_t>> level_sizes(int64_t height, int64_t width) const;
  int64_t anchors_per_cell() const;  // ratios x scales
  std::vector<std::shared_ptr<torch::nn::Module>> frozen_modules_;

  RetinaNetOptions options_;
  ModelPtr backbone_;
  FPN fpn_{nullptr};
  A3FPN a3fpn_{nullptr};
  RetinaHead head_{nullptr};
};

// retinanet (model.backbone names any zoo backbone with a four-level pyramid).
void register_detectors(ModelRegistry& registry);

}  // namespace vitrine::models
