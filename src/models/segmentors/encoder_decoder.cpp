#include "models/segmentors/encoder_decoder.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "models/model_options.h"

namespace vitrine::models {

EncoderDecoder::EncoderDecoder(ModelPtr backbone, EncoderDecoderOptions o)
    : options_(std::move(o)), backbone_(std::move(backbone)) {
  register_module("backbone", backbone_);
  std::vector<int64_t> channels = four_level_channels(*backbone_, "UPerNet");
  if (options_.neck == "fpn") {
    FPNOptions f;
    f.in_channels = channels;
    f.out_channels = options_.neck_channels;
    f.num_outs = 4;
    fpn_ = register_module("neck", FPN(f));
    channels.assign(4, options_.neck_channels);
  } else if (options_.neck == "a3fpn" || options_.neck == "a3fpn_lite") {
    A3FPNOptions a = A3FPNOptions::preset(options_.neck);
    a.in_channels = channels;
    a.out_channels = options_.neck_channels;
    a3fpn_ = register_module("neck", A3FPN(a));
    channels.assign(4, options_.neck_channels);
  } else if (options_.neck != "none") {
    throw ConfigError("UPerNet: neck must be none, fpn, a3fpn or a3fpn_lite, got '" +
                      options_.neck + "'");
  }
  if (options_.decode_head != "uper" && options_.decode_head != "a3fpn_uper")
    throw ConfigError("UPerNet: decode_head must be uper or a3fpn_uper, got '" +
                      options_.decode_head + "'");
  if (options_.decode_head == "a3fpn_uper" && options_.neck != "none")
    throw ConfigError("UPerNet: decode_head a3fpn_uper holds its own A3-FPN; set neck: none");
  UPerHeadOptions h;
  h.a3fpn = options_.decode_head == "a3fpn_uper";
  h.in_channels = channels;
  h.channels = options_.channels;
  h.num_classes = options_.num_classes;
  decode_head_ = register_module("decode_head", UPerHead(h));
  if (options_.aux_channels > 0) {
    if (options_.aux_in_index < 0 || options_.aux_in_index > 3)
      throw ConfigError("UPerNet: aux_in_index must be 0..3");
    FCNHeadOptions f;
    f.in_channels = channels[static_cast<size_t>(options_.aux_in_index)];
    f.channels = options_.aux_channels;
    f.num_classes = options_.num_classes;
    auxiliary_head_ = register_module("auxiliary_head", FCNHead(f));
  }
}

std::vector<at::Tensor> EncoderDecoder::forward_features(const at::Tensor& images) {
  std::vector<at::Tensor> levels = backbone_->forward_features(images);
  if (fpn_) return fpn_->forward(levels);
  if (a3fpn_) return a3fpn_->forward(levels);
  return levels;
}

SegmentationLogits EncoderDecoder::forward_train(const at::Tensor& images) {
  const std::vector<at::Tensor> levels = forward_features(images);
  SegmentationLogits out;
  out.decode = decode_head_->forward(levels);
  if (auxiliary_head_)
    out.auxiliary = auxiliary_head_->forward(levels[static_cast<size_t>(options_.aux_in_index)]);
  return out;
}

at::Tensor EncoderDecoder::forward(const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4, "UPerNet: expected [B, C, H, W] images, got shape ",
              images.sizes());
  const at::Tensor logits = decode_head_->forward(forward_features(images));
  return resize_bilinear(logits, images.size(2), images.size(3));
}

at::Tensor EncoderDecoder::forward_head(const at::Tensor&) {
  throw ConfigError("UPerNet is a segmentor: it has no classification head");
}

std::vector<int64_t> EncoderDecoder::feature_channels() const {
  if (fpn_ || a3fpn_) return std::vector<int64_t>(4, options_.neck_channels);
  return backbone_->feature_channels();
}

double EncoderDecoder::flops(int64_t img_size) const {
  // Backbone + FPN neck + heads, convolutions only (multiply-adds; BN, pooling and resizes
  // free). A3-FPN's body is not counted.
  double total = backbone_->flops(img_size);
  std::vector<int64_t> in = backbone_->feature_channels();
  std::vector<double> cells;  // h * w of each level (strides 4..32)
  for (int64_t i = 0, side = (img_size + 3) / 4; i < 4; ++i, side = (side + 1) / 2)
    cells.push_back(static_cast<double>(side) * static_cast<double>(side));
  if (fpn_ || a3fpn_) {
    const double n = static_cast<double>(options_.neck_channels);
    if (fpn_)
      for (size_t i = 0; i < 4; ++i) total += cells[i] * (in[i] * n + n * n * 9);
    in.assign(4, options_.neck_channels);
  }
  const auto& h = decode_head_->options();
  const double c = static_cast<double>(h.channels), k = static_cast<double>(h.num_classes);
  for (int64_t scale : h.pool_scales) total += static_cast<double>(scale * scale) * in[3] * c;
  total += cells[3] * (in[3] + static_cast<double>(h.pool_scales.size()) * c) * c * 9;
  if (!h.a3fpn)  // lateral and fpn convs (the A3-FPN inside a3fpn_uper is not counted)
    for (size_t i = 0; i < 3; ++i) total += cells[i] * (in[i] * c + c * c * 9);
  total += cells[0] * (4 * c * c * 9 + c * k);
  if (auxiliary_head_) {
    const double a = static_cast<double>(options_.aux_channels);
    const size_t level = static_cast<size_t>(options_.aux_in_index);
    total += cells[level] * (in[level] * a * 9 + a * k);
  }
  return total;
}

namespace {

// The official DiNAT-T segmentation backbone (upernet_dinat_tiny_512x512_160k_ade20k.py):
// per-level output norms, drop path 0.3, the dilations for 512 crops.
config::Node dinat_tiny_backbone() {
  config::Node node = backbone_node("dinat_tiny");
  node.set("out_norms", config::Node(true));
  node.set("drop_path_rate", config::Node(0.3));
  const std::vector<std::vector<int64_t>> dilations{
      {1, 16, 1},
      {1, 4, 1, 8},
      {1, 2, 1, 3, 1, 4, 1, 2, 1, 3, 1, 4, 1, 2, 1, 3, 1, 4},
      {1, 2, 1, 2, 1}};
  config::Node levels = config::Node::list();
  for (const auto& level : dilations) {
    config::Node row = config::Node::list();
    for (int64_t d : level) row.as_list().push_back(config::Node(d));
    levels.as_list().push_back(row);
  }
  node.set("dilations", levels);
  return node;
}

EncoderDecoderOptions upernet_with_neck(const char* neck) {
  EncoderDecoderOptions o;
  o.neck = neck;
  return o;
}

// UPerNet-nano for the synthetic ADE20K-layout fixture: UPerHead of 32 channels, auxiliary
// head of 16, trained from scratch.
EncoderDecoderOptions upernet_nano_options() {
  EncoderDecoderOptions o;
  o.neck_channels = 32;
  o.channels = 32;
  o.aux_channels = 16;
  return o;
}

// A registered UPerNet: its defaults (the config's keys override them) and the backbone it
// builds when the config gives none.
void add_upernet(ModelRegistry& registry, const char* name, int64_t img_size, config::Node backbone,
                 EncoderDecoderOptions defaults, PaperNumbers paper) {
  ModelEntry e;
  e.name = name;
  e.family = "UPerNet";
  e.img_size = img_size;
  e.num_classes = defaults.num_classes;
  e.paper = paper;
  e.create = [backbone = std::move(backbone),
              defaults](const config::ConfigView& view) -> ModelPtr {
    using O = EncoderDecoderOptions;
    static const auto table = dense_model_options<O>()
                                  .field("neck", &O::neck)
                                  .field("neck_channels", &O::neck_channels)
                                  .field("channels", &O::channels)
                                  .field("aux_channels", &O::aux_channels)
                                  .field("aux_in_index", &O::aux_in_index)
                                  .field("aux_weight", &O::aux_weight)
                                  .field("decode_head", &O::decode_head);
    return std::make_shared<EncoderDecoder>(create_backbone(view, backbone),
                                            table.apply(view, defaults));
  };
  registry.add(std::move(e));
}

}  // namespace

void register_segmentors(ModelRegistry& registry) {
  // The DiNAT repository (segmentation/DiNAT.md), ADE20K UPerNet 160k: DiNAT-T 58M params,
  // 934 GFLOPs at 2048x512, 47.8 mIoU single-scale, 48.8 multi-scale.
  add_upernet(registry, "upernet_dinat_tiny", 512, dinat_tiny_backbone(), upernet_with_neck("none"),
              {58, 0, 0});
  add_upernet(registry, "upernet_r50", 512, backbone_node("resnet50"), upernet_with_neck("none"),
              {});
  add_upernet(registry, "upernet_r50_a3fpn", 512, backbone_node("resnet50"),
              upernet_with_neck("a3fpn"), {});
  // UPerNet-nano on a quarter-width ResNet-18.
  add_upernet(registry, "upernet_nano", 128, backbone_node("resnet18", 16), upernet_nano_options(),
              {});
  // A3-FPN's own segmentation model (configs/a3fpn/a3fpn_r50_4xb2-80k_cityscapes-512x1024.py):
  // UPerNet whose decode head holds the A3-FPN (mmseg's A3FPNUperNetHead). The official
  // backbone is ResNetV1c-50 (deep stem); ours is torchvision's ResNet-50.
  EncoderDecoderOptions a3fpn_head = upernet_with_neck("none");
  a3fpn_head.decode_head = "a3fpn_uper";
  add_upernet(registry, "upernet_r50_a3fpn_head", 512, backbone_node("resnet50"), a3fpn_head, {});
}

}  // namespace vitrine::models
