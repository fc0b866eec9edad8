// Paired super-resolution data on disk, in the layouts the SR papers use:
//   DIV2K:     DIV2K_train_HR/0001.png  +  DIV2K_train_LR_bicubic/X4/0001x4.png
//   benchmark: Set5/HR/baby.png         +  Set5/LR_bicubic/X4/babyx4.png
//   Manga109 (RCAN's release): HR/<name>.png + LR/<name>_LRBI_x4.png
// An HR image `<stem>.<ext>` pairs with the first existing LR file among `lr_patterns`
// ("{stem}x{scale}", "{stem}_LRBI_x{scale}", "{stem}" by default, any image extension). With no
// LR folder the LR image is made on the fly: MATLAB bicubic of the HR image cropped to a
// multiple of the scale (how the LR sets were made). The HR image is cropped to LR size x
// scale (BasicSR's protocol), and an LR image too large for its HR image is an error.
#pragma once

#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include "data/random.h"

namespace vitrine::data {

struct SrPair {
  cv::Mat hr, lr;  // CV_8UC3 RGB (or CV_8UC1)
};

struct SrPairOptions {
  std::string hr_dir;
  std::string lr_dir;  // empty: bicubic degradation on the fly
  int scale = 4;
  std::vector<std::string> lr_patterns{"{stem}x{scale}", "{stem}_LRBI_x{scale}", "{stem}"};
  int channels = 3;  // 3 (RGB) or 1 (grey)
};

class SrPairDataset {
 public:
  // Lists the HR folder (sorted) and resolves every LR file now, so a missing one is an error
  // naming it before training starts. Throws DataError.
  explicit SrPairDataset(SrPairOptions options);

  int64_t size() const { return static_cast<int64_t>(hr_files_.size()); }
  int scale() const { return options_.scale; }
  // Throws DataError (unreadable file, LR too large for its HR image).
  SrPair get(int64_t index) const;
  std::string name(int64_t index) const;  // the HR file's stem
  const std::string& hr_path(int64_t index) const { return hr_files_[index]; }
  const std::string& lr_path(int64_t index) const { return lr_files_[index]; }  // "" on the fly

 private:
  SrPairOptions options_;
  std::vector<std::string> hr_files_, lr_files_;
};

// BasicSR's training sample: a random lr_patch x lr_patch LR crop and the HR crop it maps to,
// then a horizontal flip, a vertical flip and a transpose, each with probability 1/2 (its
// augment(hflip, rotation)). Throws DataError when the LR image is smaller than the patch.
SrPair random_sr_patch(const SrPair& pair, int lr_patch, int scale, Rng& rng);

}  // namespace vitrine::data
