// Super-resolution as a training task: L1 (or MSE) between the model's output and the HR
// patch; evaluation on whole images with BasicSR's protocol (output quantised to uint8 levels,
// Y channel, `crop_border` = scale pixels cut from each side, PSNR and SSIM averaged over the
// images), optionally in overlapping tiles for images too large to run at once.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/view.h"
#include "train/task.h"

namespace vitrine::train {

// Runs `forward` (LR [1, C, h, w] -> SR [1, C, h s, w s]) over tiles of `tile` LR pixels
// overlapping by `overlap`, the last tile of a row or column moved back to the border, and
// averages the overlapping outputs. tile 0 (or an image no larger than a tile) runs whole.
at::Tensor forward_tiled(const std::function<at::Tensor(const at::Tensor&)>& forward,
                         const at::Tensor& lr, int64_t scale, int64_t tile, int64_t overlap);

struct SrImageScore {
  std::string name;
  double psnr = 0, ssim = 0;
};

class SrTask : public Task {
 public:
  // `task`: loss (l1 | mse), y_channel, crop_border (null: the scale), quantize, tile,
  // tile_overlap, bicubic_baseline (also score MATLAB bicubic upscaling of the LR images: the
  // "Bicubic" row of the paper tables).
  SrTask(const config::ConfigView& task, int64_t scale);
  std::string name() const override { return "super_resolution"; }
  TrainingBatch prepare_training_batch(const data::Batch& batch, data::Rng& rng) override;
  at::Tensor training_loss(models::Model& model, const at::Tensor& inputs,
                           const at::Tensor& targets) override;
  // loss (L1 of the unquantised output), psnr, ssim (and psnr_bicubic, ssim_bicubic).
  MetricList evaluate(models::Model& model, data::DataLoader& loader, const at::Device& device,
                      const ModelForward& forward = {}) override;
  std::string primary_metric() const override { return "psnr"; }

  // The per-image scores of the last evaluate() (in loader order).
  const std::vector<SrImageScore>& last_scores() const { return last_scores_; }
  // Called with each evaluated image's name and SR output ([C, H, W] in [0, 1]) when set.
  void on_output(std::function<void(const std::string&, const at::Tensor&)> sink) {
    sink_ = std::move(sink);
  }

 private:
  int64_t scale_, border_, tile_ = 0, overlap_ = 16;
  bool mse_ = false, y_channel_ = true, quantize_ = true, bicubic_baseline_ = false;
  std::vector<SrImageScore> last_scores_;
  std::function<void(const std::string&, const at::Tensor&)> sink_;
};

}  // namespace vitrine::train
