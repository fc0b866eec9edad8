#include "train/segmentation_task.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <iostream>

#include "config/option_table.h"
#include "core/error.h"
#include "data/dense/ade20k_source.h"
#include "models/heads/decode_heads.h"
#include "models/segmentors/encoder_decoder.h"

namespace vitrine::train {
namespace {

at::Tensor pixel_cross_entropy(const at::Tensor& logits, const at::Tensor& label) {
  const at::Tensor resized =
      models::resize_bilinear(logits.to(at::kFloat), label.size(1), label.size(2));
  // Ignored pixels contribute 0 and still count in the mean (avg_non_ignore=False).
  return at::cross_entropy_loss(resized, label, {}, at::Reduction::None, 255).mean();
}

// mmseg's slide_inference: windows at multiples of the stride, the last moved back inside.
at::Tensor slide_logits(const ModelForward& forward, const at::Tensor& image, int64_t classes,
                        const SegInferenceOptions& o) {
  const int64_t h = image.size(2), w = image.size(3);
  const int64_t grids_h = std::max<int64_t>(h - o.crop_h + o.stride_h - 1, 0) / o.stride_h + 1;
  const int64_t grids_w = std::max<int64_t>(w - o.crop_w + o.stride_w - 1, 0) / o.stride_w + 1;
  at::Tensor sum = at::zeros({1, classes, h, w}, image.options().dtype(at::kFloat));
  at::Tensor count = at::zeros({1, 1, h, w}, sum.options());
  for (int64_t gy = 0; gy < grids_h; ++gy)
    for (int64_t gx = 0; gx < grids_w; ++gx) {
      const int64_t y2 = std::min(gy * o.stride_h + o.crop_h, h);
      const int64_t x2 = std::min(gx * o.stride_w + o.crop_w, w);
      const int64_t y1 = std::max<int64_t>(y2 - o.crop_h, 0),
                    x1 = std::max<int64_t>(x2 - o.crop_w, 0);
      const at::Tensor crop = image.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1);
      sum.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1).add_(forward(crop).to(at::kFloat));
      count.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1).add_(1);
    }
  return sum / count;
}

models::EncoderDecoder& as_segmentor(models::Model& model) {
  auto* segmentor = dynamic_cast<models::EncoderDecoder*>(&model);
  if (!segmentor)
    throw ConfigError(
        "task segmentation needs a segmentation model (model=upernet_dinat_tiny, ...)");
  return *segmentor;
}

}  // namespace

at::Tensor segmentation_inference(const ModelForward& forward, const at::Tensor& image,
                                  int64_t num_classes, int64_t out_h, int64_t out_w,
                                  const SegInferenceOptions& o) {
  at::Tensor probabilities;
  int64_t passes = 0;
  for (double ratio : o.ratios) {
    at::Tensor scaled = image;
    if (ratio != 1.0)
      scaled = models::resize_bilinear(image, static_cast<int64_t>(image.size(2) * ratio + 0.5),
                                       static_cast<int64_t>(image.size(3) * ratio + 0.5));
    for (int flipped = 0; flipped <= (o.flip ? 1 : 0); ++flipped) {
      const at::Tensor input = flipped ? scaled.flip({3}) : scaled;
      at::Tensor logits = o.mode == "slide" ? slide_logits(forward, input, num_classes, o)
                                            : forward(input).to(at::kFloat);
      if (flipped) logits = logits.flip({3});
      const at::Tensor p = at::softmax(models::resize_bilinear(logits, out_h, out_w), 1);
      probabilities = probabilities.defined() ? probabilities + p : p;
      ++passes;
    }
  }
  return probabilities / static_cast<double>(passes);
}

SegmentationTask::SegmentationTask(const config::ConfigView& task, int64_t num_classes)
    : num_classes_(num_classes) {
  using T = SegmentationTask;
  // crop_size and stride: [height, width].
  auto pair = [](int64_t SegInferenceOptions::*h, int64_t SegInferenceOptions::*w) {
    return [h, w](T& t, const config::ConfigView& v, const std::string& key) {
      const auto values = v.get_int_list(key);
      if (values.size() != 2) throw ConfigError(v.path() + "." + key + " must be [height, width]");
      t.inference_.*h = values[0];
      t.inference_.*w = values[1];
    };
  };
  static const auto table =
      config::OptionTable<T>()
          .known("name")
          .field_at("mode", [](T& t) -> std::string& { return t.inference_.mode; })
          .custom("crop_size", pair(&SegInferenceOptions::crop_h, &SegInferenceOptions::crop_w))
          .custom("stride", pair(&SegInferenceOptions::stride_h, &SegInferenceOptions::stride_w))
          .field_at("flip", [](T& t) -> bool& { return t.inference_.flip; })
          .field_at("ratios", [](T& t) -> std::vector<double>& { return t.inference_.ratios; })
          .field("print_table", &T::print_table_);
  table.apply_to(task, *this);
  if (inference_.mode != "whole" && inference_.mode != "slide")
    throw ConfigError(task.path() + ".mode must be whole or slide, got '" + inference_.mode + "'");
  if (inference_.crop_h < 1 || inference_.crop_w < 1 || inference_.stride_h < 1 ||
      inference_.stride_w < 1)
    throw ConfigError(task.path() + ": crop_size and stride must be positive");
  if (inference_.ratios.empty()) throw ConfigError(task.path() + ".ratios must not be empty");
  for (double r : inference_.ratios)
    if (!(r > 0)) throw ConfigError(task.path() + ".ratios must be positive");
}

TrainingBatch SegmentationTask::prepare_training_batch(const data::Batch& batch, data::Rng&) {
  if (!batch.targets.defined() || batch.targets.dim() != 4)
    throw ConfigError("task segmentation needs label maps (data.format: ade20k)");
  return {batch.images, batch.targets};
}

at::Tensor SegmentationTask::training_loss(models::Model& model, const at::Tensor& inputs,
                                           const at::Tensor& targets) {
  models::EncoderDecoder& segmentor = as_segmentor(model);
  const at::Tensor label = targets.select(1, 0).to(at::kLong);
  const models::SegmentationLogits logits = segmentor.forward_train(inputs);
  TORCH_CHECK(logits.decode.size(1) == num_classes_, "segmentation: the model predicts ",
              logits.decode.size(1), " classes but data.num_classes is ", num_classes_);
  at::Tensor loss = pixel_cross_entropy(logits.decode, label);
  if (logits.auxiliary.defined())
    loss = loss + segmentor.options().aux_weight * pixel_cross_entropy(logits.auxiliary, label);
  return loss;
}

MetricList SegmentationTask::evaluate(models::Model& model, data::DataLoader& loader,
                                      const at::Device& device, const ModelForward&) {
  c10::InferenceMode inference;
  model.eval();
  as_segmentor(model);
  evaluation::SegmentationMeter meter(num_classes_);
  const ModelForward forward = [&model](const at::Tensor& x) { return model.forward(x); };
  // The sink names images by their position: it needs every sample, in the source's order.
  if (sink_ && loader.samples_per_epoch() != loader.source().size())
    throw UsageError("saving predictions needs the whole validation set in one process (" +
                     std::to_string(loader.samples_per_epoch()) + " of " +
                     std::to_string(loader.source().size()) + " images here)");
  int64_t position = 0;
  loader.start_epoch(0);
  data::Batch batch;
  while (loader.next(batch)) {
    if (!batch.targets.defined() || !batch.meta.defined())
      throw ConfigError("task segmentation needs label maps (data.format: ade20k)");
    const at::Tensor meta = batch.meta.to(at::kDouble);
    for (int64_t b = 0; b < batch.images.size(0); ++b) {
      // Each image alone at its own size (the batch pads them to a common one).
      const at::Tensor row = meta[b].contiguous();
      const double* m = row.data_ptr<double>();
      const int64_t h = static_cast<int64_t>(m[data::kSegResizedHeight]);
      const int64_t w = static_cast<int64_t>(m[data::kSegResizedWidth]);
      const int64_t oh = static_cast<int64_t>(m[data::kSegOriginalHeight]);
      const int64_t ow = static_cast<int64_t>(m[data::kSegOriginalWidth]);
      const at::Tensor image =
          batch.images[b].narrow(1, 0, h).narrow(2, 0, w).unsqueeze(0).to(device);
      const at::Tensor probabilities =
          segmentation_inference(forward, image, num_classes_, oh, ow, inference_);
      const at::Tensor label = batch.targets[b][0].narrow(0, 0, oh).narrow(1, 0, ow);
      const at::Tensor prediction = probabilities.argmax(1)[0].cpu();
      meter.add(prediction, label);
      if (sink_) sink_(loader.source().source(position), prediction);
      ++position;
    }
  }
  // A distributed run: every rank's areas summed (mmseg's collect_results, as sums).
  if (ranks_.sum) meter.combine(ranks_.sum);
  std::vector<std::string> names = loader.source().classes();
  table_ = meter.table(names);
  if (print_table_) std::cout << table_ << std::flush;
  return {{"aAcc", meter.aacc()}, {"mIoU", meter.miou()}, {"mAcc", meter.macc()}};
}

}  // namespace vitrine::train
