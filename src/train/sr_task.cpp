#include "train/sr_task.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>
#include <stdexcept>

#include "config/option_table.h"
#include "core/error.h"
#include "data/sr/sr_source.h"
#include "data/transforms/matlab_resize.h"
#include "evaluation/sr_metrics.h"
#include "models/sr/overlapping_patches.h"

namespace vitrine::train {
namespace {

// MATLAB bicubic upscaling of an LR image [C, h, w] in [0, 1] (float64 out).
at::Tensor bicubic_upscale(const at::Tensor& lr, int64_t scale) {
  const at::Tensor hwc = lr.to(at::kDouble).permute({1, 2, 0}).contiguous();
  const cv::Mat image(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)),
                      CV_64FC(static_cast<int>(hwc.size(2))), hwc.data_ptr<double>());
  const cv::Mat up = data::matlab_imresize(image, static_cast<double>(scale));
  return at::from_blob(const_cast<double*>(up.ptr<double>()), {up.rows, up.cols, up.channels()},
                       at::kDouble)
      .permute({2, 0, 1})
      .clone();
}

}  // namespace

at::Tensor forward_tiled(const std::function<at::Tensor(const at::Tensor&)>& forward,
                         const at::Tensor& lr, int64_t scale, int64_t tile, int64_t overlap) {
  const int64_t H = lr.size(2), W = lr.size(3);
  if (tile <= 0 || (H <= tile && W <= tile)) return forward(lr);
  TORCH_CHECK(overlap >= 0 && overlap < tile, "SR tiling: tile_overlap must be in [0, tile)");
  const int64_t th = std::min(tile, H), tw = std::min(tile, W), stride = tile - overlap;
  at::Tensor out, weight;
  // Tiles laid out as CATANet's patches are: at `stride`, the last moved back to the border.
  for (int64_t top : models::patch_offsets(H, th, stride))
    for (int64_t left : models::patch_offsets(W, tw, stride)) {
      const at::Tensor sr = forward(lr.narrow(2, top, th).narrow(3, left, tw));
      if (!out.defined()) {
        out = at::zeros({lr.size(0), sr.size(1), H * scale, W * scale}, sr.options());
        weight = at::zeros({1, 1, H * scale, W * scale}, sr.options());
      }
      out.narrow(2, top * scale, th * scale).narrow(3, left * scale, tw * scale).add_(sr);
      weight.narrow(2, top * scale, th * scale).narrow(3, left * scale, tw * scale).add_(1);
    }
  return out / weight;
}

SrTask::SrTask(const config::ConfigView& task, int64_t scale) : scale_(scale) {
  using T = SrTask;
  // crop_border: null (or absent) crops `scale` pixels, BasicSR's convention.
  static const auto table =
      config::OptionTable<T>()
          .known("name")
          .custom("loss",
                  [](T& t, const config::ConfigView& v, const std::string& key) {
                    const std::string loss = v.get_string(key);
                    if (loss != "l1" && loss != "mse")
                      throw ConfigError(v.path() +
                                        ".loss must be l1 or mse for super-resolution, "
                                        "got '" +
                                        loss + "'");
                    t.mse_ = loss == "mse";
                  })
          .field("y_channel", &T::y_channel_)
          .custom("crop_border",
                  [](T& t, const config::ConfigView& v, const std::string& key) {
                    if (!v.node().find(key)->is_null()) t.border_ = v.get_int(key);
                  })
          .field("quantize", &T::quantize_)
          .field("tile", &T::tile_)
          .field("tile_overlap", &T::overlap_)
          .field("bicubic_baseline", &T::bicubic_baseline_);
  border_ = scale;
  table.apply_to(task, *this);
  if (scale_ < 1) throw ConfigError("super-resolution needs data.scale >= 1");
  if (border_ < 0 || tile_ < 0 || overlap_ < 0 || (tile_ > 0 && overlap_ >= tile_))
    throw ConfigError(task.path() +
                      ": crop_border, tile and tile_overlap must be non-negative, overlap < tile");
}

TrainingBatch SrTask::prepare_training_batch(const data::Batch& batch, data::Rng&) {
  if (!batch.targets.defined())
    throw ConfigError("task super_resolution needs paired data (data.format: sr_pairs)");
  return {batch.images, batch.targets};
}

at::Tensor SrTask::training_loss(models::Model& model, const at::Tensor& inputs,
                                 const at::Tensor& targets) {
  const at::Tensor out = model.forward(inputs);
  TORCH_CHECK(out.sizes() == targets.sizes(), "super-resolution: the model's output is ",
              out.sizes(), " but the HR patches are ", targets.sizes(),
              " (does the model's upscale match data.scale?)");
  const at::Tensor diff = out.to(at::kFloat) - targets.to(at::kFloat);
  return mse_ ? diff.pow(2).mean() : diff.abs().mean();
}

MetricList SrTask::evaluate(models::Model& model, data::DataLoader& loader,
                            const at::Device& device, const ModelForward& forward) {
  c10::InferenceMode inference;
  model.eval();
  const auto* source = dynamic_cast<const data::SrSource*>(&loader.source());
  last_scores_.clear();
  double l1 = 0, psnr_sum = 0, ssim_sum = 0, psnr_bicubic = 0, ssim_bicubic = 0;
  int64_t images = 0;
  loader.start_epoch(0);
  data::Batch batch;
  auto run = [&](const at::Tensor& x) { return forward ? forward(x) : model.forward(x); };
  while (loader.next(batch)) {
    if (!batch.targets.defined())
      throw ConfigError("task super_resolution needs paired data (data.format: sr_pairs)");
    const at::Tensor sr = forward_tiled(run, batch.images.to(device), scale_, tile_, overlap_)
                              .to(at::kCPU, at::kDouble);
    const at::Tensor hr = batch.targets.to(at::kDouble);
    TORCH_CHECK(sr.sizes() == hr.sizes(), "super-resolution: output ", sr.sizes(),
                " does not match the HR image ", hr.sizes());
    for (int64_t i = 0; i < sr.size(0); ++i) {
      const evaluation::SrScore s =
          evaluation::score_sr(sr[i], hr[i], border_, y_channel_, quantize_);
      l1 += (sr[i] - hr[i]).abs().mean().item<double>();
      psnr_sum += s.psnr;
      ssim_sum += s.ssim;
      if (bicubic_baseline_) {
        const evaluation::SrScore b = evaluation::score_sr(bicubic_upscale(batch.images[i], scale_),
                                                           hr[i], border_, y_channel_, quantize_);
        psnr_bicubic += b.psnr;
        ssim_bicubic += b.ssim;
      }
      const int64_t position = images;
      const std::string name = source ? source->pairs().name(position % source->pairs().size())
                                      : std::to_string(position);
      last_scores_.push_back({name, s.psnr, s.ssim});
      if (sink_) sink_(name, sr[i].clamp(0, 1));
      ++images;
    }
  }
  // A distributed run: sums over every rank's shard (last_scores_ keeps this rank's images).
  const std::vector<double> totals = ranks_.sum_over_ranks(
      {l1, psnr_sum, ssim_sum, psnr_bicubic, ssim_bicubic, static_cast<double>(images)});
  l1 = totals[0];
  psnr_sum = totals[1];
  ssim_sum = totals[2];
  psnr_bicubic = totals[3];
  ssim_bicubic = totals[4];
  images = static_cast<int64_t>(totals[5]);
  if (images == 0) throw std::runtime_error("evaluation loader produced no images");
  MetricList out = {
      {"loss", l1 / images}, {"psnr", psnr_sum / images}, {"ssim", ssim_sum / images}};
  if (bicubic_baseline_) {
    out.emplace_back("psnr_bicubic", psnr_bicubic / images);
    out.emplace_back("ssim_bicubic", ssim_bicubic / images);
  }
  return out;
}

}  // namespace vitrine::train
