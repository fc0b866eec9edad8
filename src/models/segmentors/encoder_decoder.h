// mmsegmentation's EncoderDecoder for semantic segmentation: a zoo backbone's four-level
// pyramid, optionally a neck (mmdet's FPN with four outputs, or A3-FPN), a UPerHead
// (`decode_head`) and an auxiliary FCNHead (`auxiliary_head`, on the head input of index 2:
// C4 without a neck), names as mmseg so its checkpoints map by name.
//   forward(images) -> logits [B, C, H, W] at the input size (encode_decode: the decode
//   head's 1/4-resolution logits resized bilinearly, align_corners=False).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "models/heads/decode_heads.h"
#include "models/necks/a3fpn.h"
#include "models/necks/fpn.h"
#include "models/registry.h"

namespace vitrine::models {

struct EncoderDecoderOptions {
  int64_t num_classes = 150;
  std::string neck = "none";  // none | fpn | a3fpn | a3fpn_lite
  int64_t neck_channels = 256;
  int64_t channels = 512;      // UPerHead
  int64_t aux_channels = 256;  // FCNHead; 0: no auxiliary head
  int64_t aux_in_index = 2;
  double aux_weight = 0.4;  // the auxiliary loss's weight
  // uper (UPerHead) | a3fpn_uper (A3-FPN's UPerNet head, mmseg's A3FPNUperNetHead: the A3-FPN
  // neck inside the decode head; needs neck none).
  std::string decode_head = "uper";
};

struct SegmentationLogits {
  at::Tensor decode;     // [B, C, H/4, W/4]
  at::Tensor auxiliary;  // [B, C, H/16, W/16], undefined without an auxiliary head
};

class EncoderDecoder : public Model {
 public:
  EncoderDecoder(ModelPtr backbone, EncoderDecoderOptions options);

  at::Tensor forward(const at::Tensor& images) override;
  // What the decode head consumes (backbone levels, or the neck's outputs).
  std::vector<at::Tensor> forward_features(const at::Tensor& images) override;
  at::Tensor forward_head(const at::Tensor& last_level) override;  // throws: no classifier
  std::vector<int64_t> feature_channels() const override;
  // Backbone, FPN neck and both heads (A3-FPN's body not counted), at a square input.
  double flops(int64_t img_size) const override;
  std::vector<std::string> no_weight_decay_keywords() const override {
    return backbone_->no_weight_decay_keywords();
  }

  // Both heads' logits at their own resolutions (the training losses resize them to the
  // labels).
  SegmentationLogits forward_train(const at::Tensor& images);
  const EncoderDecoderOptions& options() const { return options_; }

 private:
  EncoderDecoderOptions options_;
  ModelPtr backbone_;
  FPN fpn_{nullptr};
  A3FPN a3fpn_{nullptr};
  UPerHead decode_head_{nullptr};
  FCNHead auxiliary_head_{nullptr};
};

// upernet_r50, upernet_dinat_tiny, upernet_r50_a3fpn (model.backbone / model.neck override).
void register_segmentors(ModelRegistry& registry);

}  // namespace vitrine::models
