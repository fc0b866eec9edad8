#include "train/classification_task.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "config/option_table.h"
#include "core/error.h"
#include "evaluation/topk_accuracy.h"
#include "train/losses.h"

namespace vitrine::train {

namespace {

ClassificationSettings read_settings(const config::ConfigView& task) {
  using S = ClassificationSettings;
  static const auto table = config::OptionTable<S>()
                                .known("name")
                                .field("label_smoothing", &S::label_smoothing)
                                .required()
                                .field("topk", &S::topk)
                                .required()
                                .field("loss", &S::loss)
                                .field("bce_target_thresh", &S::bce_target_thresh);
  return table.apply(task, S());
}

}  // namespace

at::Tensor classification_logits(const ModelForward& forward, const at::Tensor& images,
                                 bool hflip_tta) {
  const at::Tensor logits = forward(images);
  if (!hflip_tta) return logits;
  return (logits + forward(images.flip({-1}))) * 0.5;  // NCHW: the last dimension is the width
}

ClassificationTask::ClassificationTask(const config::ConfigView& task,
                                       const config::ConfigView& data_config, int64_t num_classes)
    : ClassificationTask(read_settings(task), task.path(), data_config, num_classes) {}

ClassificationTask::ClassificationTask(const ClassificationSettings& s, const std::string& path,
                                       const config::ConfigView& data_config, int64_t num_classes)
    : smoothing_(s.label_smoothing),
      topk_(s.topk),
      mixup_(
          data::Mixup::from_config(data_config.child("augment"), s.label_smoothing, num_classes)),
      num_classes_(num_classes) {
  const std::string tta = data_config.has("tta") ? data_config.get_string("tta") : "none";
  if (tta != "none" && tta != "hflip")
    throw ConfigError(data_config.path() + ".tta must be none or hflip, got '" + tta + "'");
  tta_hflip_ = tta == "hflip";
  if (s.loss != "ce" && s.loss != "bce")
    throw ConfigError(path + ".loss must be ce or bce, got '" + s.loss + "'");
  bce_ = s.loss == "bce";
  if (s.bce_target_thresh) {
    bce_target_thresh_ = *s.bce_target_thresh;
    if (!bce_ || bce_target_thresh_ < 0 || bce_target_thresh_ >= 1)
      throw ConfigError(path + ".bce_target_thresh needs loss: bce and a value in [0, 1)");
  }
  if (smoothing_ < 0 || smoothing_ >= 1)
    throw ConfigError(path + ".label_smoothing must be in [0, 1)");
  if (topk_.empty()) throw ConfigError(path + ".topk must list at least one k");
  for (int64_t k : topk_)
    if (k < 1) throw ConfigError(path + ".topk values must be >= 1");
}

TrainingBatch ClassificationTask::prepare_training_batch(const data::Batch& batch, data::Rng& rng) {
  if (!mixup_.enabled()) return {batch.images, batch.labels};
  const data::MixedBatch mixed = mixup_.apply(batch.images, batch.labels.cpu(), rng);
  return {mixed.images, mixed.targets.to(batch.images.device())};
}

at::Tensor ClassificationTask::training_loss(models::Model& model, const at::Tensor& inputs,
                                             const at::Tensor& targets) {
  const at::Tensor logits = model.forward(inputs);
  // Mixup/CutMix give soft targets with the smoothing already folded in.
  if (bce_) return binary_cross_entropy(logits, targets, smoothing_, bce_target_thresh_);
  if (targets.dim() == 2) return soft_target_cross_entropy(logits, targets);
  return label_smoothing_cross_entropy(logits, targets, smoothing_);
}

MetricList ClassificationTask::evaluate(models::Model& model, data::DataLoader& loader,
                                        const at::Device& device, const ModelForward& forward) {
  c10::InferenceMode inference;
  model.eval();
  double loss = 0;
  std::vector<double> hits(topk_.size(), 0.0);
  int64_t samples = 0;
  loader.start_epoch(0);
  data::Batch batch;
  const ModelForward run =
      forward ? forward : [&](const at::Tensor& x) { return model.forward(x); };
  while (loader.next(batch)) {
    const at::Tensor images = batch.images.to(device);
    const at::Tensor logits = classification_logits(run, images, tta_hflip_);
    const evaluation::Accuracy acc =
        evaluation::batch_accuracy(logits, batch.labels.to(device), topk_);
    loss += acc.loss;
    for (size_t i = 0; i < topk_.size(); ++i) hits[i] += acc.topk[i] * acc.samples / 100.0;
    samples += acc.samples;
  }
  // A distributed run: sums over every rank's shard.
  std::vector<double> totals = hits;
  totals.push_back(loss);
  totals.push_back(static_cast<double>(samples));
  totals = ranks_.sum_over_ranks(totals);
  std::copy(totals.begin(), totals.begin() + static_cast<std::ptrdiff_t>(hits.size()),
            hits.begin());
  loss = totals[hits.size()];
  samples = static_cast<int64_t>(totals[hits.size() + 1]);
  if (samples == 0) throw std::runtime_error("evaluation loader produced no samples");
  MetricList out = {{"loss", loss / samples}};
  for (size_t i = 0; i < topk_.size(); ++i)
    out.emplace_back("top" + std::to_string(topk_[i]), hits[i] * 100.0 / samples);
  return out;
}

}  // namespace vitrine::train
