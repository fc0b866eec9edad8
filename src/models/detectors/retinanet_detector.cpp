#include "models/detectors/retinanet_detector.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/batchnorm.h>

#include "core/error.h"
#include "layers/batch_norm.h"
#include "models/model_options.h"

namespace vitrine::models {
namespace {

constexpr int64_t kLevels = 5;  // P3..P7

// Multiply-adds of a k x k conv from `in` to `out` channels over an h x w output.
double conv_macs(int64_t in, int64_t out, int64_t k, int64_t h, int64_t w) {
  return static_cast<double>(in) * out * k * k * h * w;
}

}  // namespace

RetinaNetDetector::RetinaNetDetector(ModelPtr backbone, RetinaNetOptions o)
    : options_(std::move(o)), backbone_(std::move(backbone)) {
  if (options_.num_classes < 1) throw ConfigError("RetinaNet: num_classes must be positive");
  if (options_.anchors.strides.size() != static_cast<size_t>(kLevels))
    throw ConfigError("RetinaNet: the anchor generator needs one stride per level P3..P7");
  register_module("backbone", backbone_);
  if (options_.frozen_stages >= 0) {
    // ResNet's names: the stem (conv1, bn1) and layer1..layer4.
    std::vector<std::string> names{"conv1", "bn1"};
    for (int64_t s = 1; s <= options_.frozen_stages; ++s)
      names.push_back("layer" + std::to_string(s));
    const auto children = backbone_->named_children();
    for (const std::string& name : names) {
      if (!children.contains(name))
        throw ConfigError(
            "RetinaNet: frozen_stages needs a ResNet-style backbone (conv1, bn1, "
            "layer1..4); this backbone has no '" +
            name + "'");
      frozen_modules_.push_back(children[name]);
      for (auto& p : children[name]->parameters()) p.requires_grad_(false);
    }
  }
  const std::vector<int64_t> channels = four_level_channels(*backbone_, "RetinaNet");
  if (options_.neck == "fpn") {
    FPNOptions f;
    f.in_channels = channels;
    f.out_channels = options_.neck_channels;
    f.num_outs = kLevels;
    f.start_level = 1;
    f.add_extra_convs = "on_input";
    fpn_ = register_module("neck", FPN(f));
  } else if (options_.neck == "a3fpn" || options_.neck == "a3fpn_lite") {
    A3FPNOptions a = A3FPNOptions::preset(options_.neck);
    a.in_channels = channels;
    a.out_channels = options_.neck_channels;
    a.extra_levels = 2;
    a3fpn_ = register_module("neck", A3FPN(a));
  } else {
    throw ConfigError("RetinaNet: neck must be fpn, a3fpn or a3fpn_lite, got '" + options_.neck +
                      "'");
  }
  RetinaHeadOptions h;
  h.num_classes = options_.num_classes;
  h.in_channels = options_.neck_channels;
  h.feat_channels = options_.head_channels;
  h.stacked_convs = options_.stacked_convs;
  h.anchors_per_cell = anchors_per_cell();
  head_ = register_module("bbox_head", RetinaHead(h));
}

void RetinaNetDetector::train(bool on) {
  Model::train(on);
  if (!on) return;
  for (auto& m : frozen_modules_) m->eval();
  if (options_.norm_eval)
    for (auto& m : backbone_->modules())
      if (m->as<layers::BatchNorm2d>()) m->eval();
}

std::vector<at::Tensor> RetinaNetDetector::forward_features(const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(2) % 32 == 0 && images.size(3) % 32 == 0,
              "RetinaNet: expected [B, C, H, W] images padded to multiples of 32, got shape ",
              images.sizes());
  const std::vector<at::Tensor> pyramid = backbone_->forward_features(images);
  if (fpn_) return fpn_->forward(pyramid);
  std::vector<at::Tensor> levels = a3fpn_->forward(pyramid);
  // P2 (conv00's output) is computed and dropped, as the official neck returns
  // outs[end_level - num_outs:]: RetinaNet's anchors start at stride 8.
  levels.erase(levels.begin());
  return levels;
}

RetinaOutputs RetinaNetDetector::head_outputs(const at::Tensor& images) {
  return head_->forward(forward_features(images));
}

at::Tensor RetinaNetDetector::forward(const at::Tensor& images) {
  const RetinaOutputs out = head_outputs(images);
  std::vector<at::Tensor> levels;
  const int64_t c = options_.num_classes;
  for (size_t l = 0; l < out.cls.size(); ++l) {
    const int64_t b = out.cls[l].size(0);
    levels.push_back(at::cat({out.cls[l].permute({0, 2, 3, 1}).reshape({b, -1, c}),
                              out.reg[l].permute({0, 2, 3, 1}).reshape({b, -1, 4})},
                             2));
  }
  return at::cat(levels, 1);
}

at::Tensor RetinaNetDetector::forward_head(const at::Tensor&) {
  throw ConfigError("RetinaNet is a detector: it has no classification head");
}

std::vector<int64_t> RetinaNetDetector::feature_channels() const {
  return std::vector<int64_t>(kLevels, options_.neck_channels);
}

std::vector<std::pair<int64_t, int64_t>> RetinaNetDetector::level_sizes(int64_t height,
                                                                        int64_t width) const {
  // Each stride-2 stage (backbone or extra conv) maps n to ceil(n / 2).
  std::vector<std::pair<int64_t, int64_t>> sizes;
  int64_t h = height, w = width;
  for (int64_t stride = 2; stride <= 128; stride *= 2) {
    h = (h + 1) / 2;
    w = (w + 1) / 2;
    if (stride >= 8) sizes.emplace_back(h, w);
  }
  return sizes;
}

std::vector<at::Tensor> RetinaNetDetector::anchors(int64_t height, int64_t width) const {
  std::vector<at::Tensor> out;
  const auto sizes = level_sizes(height, width);
  for (size_t l = 0; l < sizes.size(); ++l) {
    AnchorOptions one = options_.anchors;
    one.strides = {options_.anchors.strides[l]};
    out.push_back(grid_anchors(one, {sizes[l]}));
  }
  return out;
}

RetinaOutputs RetinaNetDetector::split_flat(const at::Tensor& flat, int64_t height,
                                            int64_t width) const {
  const int64_t c = options_.num_classes;
  const int64_t a = anchors_per_cell();
  const auto sizes = level_sizes(height, width);
  int64_t total = 0;
  for (const auto& [h, w] : sizes) total += h * w * a;
  TORCH_CHECK(flat.dim() == 3 && flat.size(1) == total && flat.size(2) == c + 4,
              "RetinaNet: expected outputs [B, ", total, ", ", c + 4, "] for a ", height, "x",
              width, " input, got ", flat.sizes());
  RetinaOutputs out;
  int64_t start = 0;
  for (const auto& [h, w] : sizes) {
    const at::Tensor level = flat.narrow(1, start, h * w * a);
    const int64_t b = flat.size(0);
    out.cls.push_back(
        level.narrow(2, 0, c).reshape({b, h, w, a * c}).permute({0, 3, 1, 2}).contiguous());
    out.reg.push_back(
        level.narrow(2, c, 4).reshape({b, h, w, a * 4}).permute({0, 3, 1, 2}).contiguous());
    start += h * w * a;
  }
  return out;
}

int64_t RetinaNetDetector::anchors_per_cell() const {
  return static_cast<int64_t>(options_.anchors.ratios.size()) * options_.anchors.scales_per_octave;
}

double RetinaNetDetector::flops(int64_t img_size) const {
  double total = backbone_->flops(img_size);
  const auto sizes = level_sizes(img_size, img_size);
  const int64_t n = options_.neck_channels, f = options_.head_channels;
  const int64_t a = anchors_per_cell();
  if (fpn_) {
    const std::vector<int64_t> channels = backbone_->feature_channels();
    for (size_t l = 0; l < 3; ++l) {
      const auto [h, w] = sizes[l];
      total += conv_macs(channels[l + 1], n, 1, h, w) + conv_macs(n, n, 3, h, w);
    }
    total += conv_macs(channels[3], n, 3, sizes[3].first, sizes[3].second) +
             conv_macs(n, n, 3, sizes[4].first, sizes[4].second);
  }
  for (const auto& [h, w] : sizes) {
    total +=
        2 * (conv_macs(n, f, 3, h, w) + (options_.stacked_convs - 1) * conv_macs(f, f, 3, h, w));
    total += conv_macs(f, a * options_.num_classes, 3, h, w) + conv_macs(f, a * 4, 3, h, w);
  }
  return total;
}

namespace {

// A registered RetinaNet: its defaults (the config's keys override them) and the backbone it
// builds when the config gives none.
struct RetinaNetVariant {
  const char* name;
  int64_t img_size;
  RetinaNetOptions defaults;
  config::Node backbone;
  PaperNumbers paper;
};

void add_retinanet(ModelRegistry& registry, RetinaNetVariant variant) {
  ModelEntry e;
  e.name = variant.name;
  e.family = "RetinaNet";
  e.img_size = variant.img_size;
  e.num_classes = variant.defaults.num_classes;
  e.paper = variant.paper;
  e.create = [defaults = variant.defaults,
              backbone = variant.backbone](const config::ConfigView& view) -> ModelPtr {
    using O = RetinaNetOptions;
    // `backbone` and `in_chans` go to the backbone (create_backbone).
    static const auto table =
        dense_model_options<O>()
            .field("neck", &O::neck)
            .field("frozen_stages", &O::frozen_stages)
            .field("norm_eval", &O::norm_eval)
            .field("neck_channels", &O::neck_channels)
            .field("head_channels", &O::head_channels)
            .field("stacked_convs", &O::stacked_convs)
            .field_at("score_thr", [](O& o) -> double& { return o.test.score_thr; })
            .field_at("nms_pre", [](O& o) -> int64_t& { return o.test.nms_pre; })
            .field_at("iou_threshold", [](O& o) -> double& { return o.test.iou_threshold; })
            .field_at("max_per_img", [](O& o) -> int64_t& { return o.test.max_per_img; });
    return std::make_shared<RetinaNetDetector>(create_backbone(view, backbone),
                                               table.apply(view, defaults));
  };
  registry.add(std::move(e));
}

RetinaNetOptions retinanet_with_neck(const char* neck) {
  RetinaNetOptions o;
  o.neck = neck;
  return o;
}

// A narrow RetinaNet for the synthetic COCO fixture and CPU smoke runs: ResNet-18's layout at a
// quarter of the width, FPN and head of 64 channels with two stacked convs, trained from
// scratch (no frozen stages, BatchNorm training).
RetinaNetOptions retinanet_nano_options() {
  RetinaNetOptions o;
  o.neck_channels = 64;
  o.head_channels = 64;
  o.stacked_convs = 2;
  return o;
}

}  // namespace

void register_detectors(ModelRegistry& registry) {
  // The ResNet-50 backbone unless the config gives one (built without its classifier).
  // mmdetection's retinanet_r50_fpn_1x_coco: 37.74M trainable parameters (stem and layer1
  // frozen), 36.5 box AP. A3-FPN's paper reports RetinaNet only on VisDrone (23.7 AP).
  add_retinanet(registry, {"retinanet_r50_fpn",
                           800,
                           retinanet_with_neck("fpn"),
                           backbone_node("resnet50"),
                           {37.74, 0, 0}});
  add_retinanet(
      registry,
      {"retinanet_r50_a3fpn", 800, retinanet_with_neck("a3fpn"), backbone_node("resnet50"), {}});
  add_retinanet(registry, {"retinanet_r50_a3fpn_lite",
                           800,
                           retinanet_with_neck("a3fpn_lite"),
                           backbone_node("resnet50"),
                           {}});
  add_retinanet(
      registry,
      {"retinanet_nano", 128, retinanet_nano_options(), backbone_node("resnet18", 16), {}});
}

}  // namespace vitrine::models
