#include "data/sample_pipeline.h"

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "config/option_table.h"
#include "core/error.h"
#include "core/text.h"
#include "data/dataset.h"
#include "data/mixup_options.h"
#include "data/transforms/color_jitter.h"
#include "data/transforms/geometry.h"
#include "data/transforms/rand_augment.h"

namespace vitrine::data {

void RandomErasing::apply(float* chw, int channels, int height, int width, Rng& rng) const {
  if (rng.uniform() > probability) return;
  const double area = static_cast<double>(height) * width;
  const int count =
      min_count == max_count ? min_count : static_cast<int>(rng.randint(min_count, max_count));
  const double log_lo = std::log(min_aspect), log_hi = std::log(1.0 / min_aspect);
  for (int box = 0; box < count; ++box) {
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target_area = rng.uniform(min_area, max_area) * area / count;
      const double aspect = std::exp(rng.uniform(log_lo, log_hi));
      const int h = static_cast<int>(std::nearbyint(std::sqrt(target_area * aspect)));
      const int w = static_cast<int>(std::nearbyint(std::sqrt(target_area / aspect)));
      if (w < width && h < height) {
        const int top = static_cast<int>(rng.randint(0, height - h));
        const int left = static_cast<int>(rng.randint(0, width - w));
        for (int c = 0; c < channels; ++c) {
          const float channel_value = mode == "rand" ? static_cast<float>(rng.normal()) : 0.0f;
          for (int y = top; y < top + h; ++y)
            for (int x = left; x < left + w; ++x)
              chw[(static_cast<size_t>(c) * height + y) * width + x] =
                  mode == "pixel" ? static_cast<float>(rng.normal()) : channel_value;
        }
        break;
      }
    }
  }
}

SamplePipeline::SamplePipeline(std::vector<ImageTransformPtr> transforms, std::vector<float> mean,
                               std::vector<float> std, std::optional<RandomErasing> erasing,
                               int channels, int height, int width)
    : transforms_(std::move(transforms)),
      mean_(std::move(mean)),
      std_(std::move(std)),
      erasing_(std::move(erasing)),
      channels_(channels),
      height_(height),
      width_(width) {
  if (static_cast<int>(mean_.size()) != channels_ || static_cast<int>(std_.size()) != channels_)
    throw ConfigError("data.mean and data.std need " + std::to_string(channels_) +
                      " values (one per input channel)");
  for (float s : std_)
    if (!(s > 0)) throw ConfigError("data.std values must be positive");
}

namespace {

std::vector<float> floats(const config::ConfigView& view, const std::string& key) {
  std::vector<float> out;
  for (double v : view.get_float_list(key)) out.push_back(static_cast<float>(v));
  return out;
}

std::pair<double, double> range(const std::vector<double>& v, const std::string& key) {
  if (v.size() != 2) throw ConfigError(key + " must be a [min, max] pair");
  return {v[0], v[1]};
}

// data.augment's image transforms (the mixup keys are read by read_mixup_options).
struct AugmentSettings {
  std::string crop;          // random_resized_crop | random_crop | none
  int64_t crop_padding = 0;  // random_crop
  std::vector<double> scale{0.08, 1.0}, ratio{3.0 / 4.0, 4.0 / 3.0};  // random_resized_crop
  double hflip = 0;
  std::string hflip_mode = "random";        // random | alternate
  std::vector<double> color_jitter;         // empty: none
  std::optional<std::string> auto_augment;  // timm's RandAugment spec
  double reprob = 0;                        // random erasing
  std::string remode = "pixel";
  int64_t recount = 1;
};

AugmentSettings read_augment(const config::ConfigView& augment) {
  using S = AugmentSettings;
  static const auto table =
      config::OptionTable<S>()
          .field("crop", &S::crop)
          .required()
          .field("crop_padding", &S::crop_padding)
          .field("scale", &S::scale)
          .field("ratio", &S::ratio)
          .field("hflip", &S::hflip)
          .required()
          .field("hflip_mode", &S::hflip_mode)
          .custom("color_jitter",
                  // A number x means (x, x, x, 0) as timm's --color-jitter; a list gives all
                  // four (three: hue 0); null: none.
                  [](S& s, const config::ConfigView& v, const std::string& key) {
                    const config::Node& node = *v.node().find(key);
                    if (node.is_null()) return;
                    if (node.is_list())
                      s.color_jitter = v.get_float_list(key);
                    else
                      s.color_jitter.assign(3, v.get_float(key));
                    if (s.color_jitter.size() == 3) s.color_jitter.push_back(0.0);
                    if (s.color_jitter.size() != 4)
                      throw ConfigError(v.path() + ".color_jitter must be a number or 3-4 numbers");
                  })
          .field("auto_augment", &S::auto_augment)
          .required()
          .field("reprob", &S::reprob)
          .required()
          .field("remode", &S::remode)
          .field("recount", &S::recount)
          .known(mixup_option_keys());
  return table.apply(augment, S());
}

cv::Scalar fill_from_mean(const std::vector<float>& mean) {
  // timm: img_mean = round(255 * mean) per channel.
  cv::Scalar fill;
  for (size_t c = 0; c < mean.size() && c < 4; ++c)
    fill[static_cast<int>(c)] = std::min(255.0, std::nearbyint(255.0 * mean[c]));
  return fill;
}

}  // namespace

SamplePipeline SamplePipeline::train(const config::ConfigView& data) {
  const config::ConfigView aug = data.child("augment");
  const AugmentSettings a = read_augment(aug);
  // data.train_crop_size (torchvision's --train-crop-size): training images of their own side,
  // smaller than the evaluation's img_size (FixRes: fewer tokens per step, and a random crop
  // that is an augmentation); null: img_size.
  int size = static_cast<int>(data.get_int("img_size"));
  std::optional<int64_t> crop;
  if (data.has("train_crop_size")) config::read_value(data, "train_crop_size", crop);
  if (crop) {
    if (*crop < 1 || *crop > 4096)
      throw ConfigError(data.path() + ".train_crop_size must be in [1, 4096] or null, got " +
                        std::to_string(*crop));
    if (a.crop == "none")
      throw ConfigError(data.path() +
                        ".train_crop_size needs data.augment.crop (random_crop or "
                        "random_resized_crop) to reach that size");
    size = static_cast<int>(*crop);
  }
  const int channels = static_cast<int>(data.get_int("in_chans"));
  const Interpolation interpolation =
      parse_interpolation(data.get_string("interpolation"), data.path() + ".interpolation");
  const std::vector<float> mean = floats(data, "mean");
  std::vector<ImageTransformPtr> transforms;

  if (a.crop == "random_resized_crop") {
    transforms.push_back(
        std::make_shared<RandomResizedCrop>(size, range(a.scale, aug.path() + ".scale"),
                                            range(a.ratio, aug.path() + ".ratio"), interpolation));
  } else if (a.crop == "random_crop") {
    transforms.push_back(std::make_shared<RandomCrop>(size, static_cast<int>(a.crop_padding)));
  } else if (a.crop != "none") {
    throw ConfigError(aug.path() + ".crop must be random_resized_crop, random_crop or none, got '" +
                      a.crop + "'");
  }
  if (a.hflip_mode != "random" && a.hflip_mode != "alternate")
    throw ConfigError(aug.path() + ".hflip_mode must be random or alternate, got '" + a.hflip_mode +
                      "'");
  // hflip: 0 turns flips off whatever the mode.
  if (a.hflip_mode == "alternate" && a.hflip != 0.5 && a.hflip != 0)
    throw ConfigError(aug.path() + ".hflip_mode: alternate flips every other epoch: it needs " +
                      aug.path() + ".hflip: 0.5 (or 0: no flips), got " + std::to_string(a.hflip));
  if (a.hflip > 0)
    transforms.push_back(std::make_shared<HorizontalFlip>(a.hflip, a.hflip_mode == "alternate"));

  if (a.auto_augment && !a.auto_augment->empty()) {
    RandAugmentSpec spec = parse_rand_augment(*a.auto_augment, aug.path() + ".auto_augment");
    transforms.push_back(
        std::make_shared<RandAugment>(std::move(spec), interpolation, fill_from_mean(mean)));
  } else if (!a.color_jitter.empty()) {
    const std::vector<double>& jitter = a.color_jitter;
    if (jitter[0] > 0 || jitter[1] > 0 || jitter[2] > 0 || jitter[3] > 0)
      transforms.push_back(
          std::make_shared<ColorJitter>(jitter[0], jitter[1], jitter[2], jitter[3]));
  }

  std::optional<RandomErasing> erasing;
  if (a.reprob > 0) {
    RandomErasing e;
    e.probability = a.reprob;
    e.mode = a.remode;
    if (e.mode != "pixel" && e.mode != "rand" && e.mode != "const")
      throw ConfigError(aug.path() + ".remode must be pixel, rand or const, got '" + e.mode + "'");
    e.max_count = static_cast<int>(a.recount);
    if (e.max_count < 1) throw ConfigError(aug.path() + ".recount must be >= 1");
    erasing = e;
  }
  return SamplePipeline(std::move(transforms), mean, floats(data, "std"), erasing, channels, size,
                        size);
}

SamplePipeline SamplePipeline::eval(const config::ConfigView& data) {
  const int size = static_cast<int>(data.get_int("img_size"));
  const double crop_pct = data.get_float("crop_pct");
  if (!(crop_pct > 0 && crop_pct <= 1))
    throw ConfigError(data.path() + ".crop_pct must be in (0, 1], got " + std::to_string(crop_pct));
  const Interpolation interpolation =
      parse_interpolation(data.get_string("interpolation"), data.path() + ".interpolation");
  // timm: scale_size = floor(img_size / crop_pct).
  const int scale_size = static_cast<int>(std::floor(size / crop_pct));
  std::vector<ImageTransformPtr> transforms = {
      std::make_shared<ResizeShorter>(scale_size, interpolation == Interpolation::kRandom
                                                      ? Interpolation::kBilinear
                                                      : interpolation),
      std::make_shared<CenterCrop>(size)};
  return SamplePipeline(std::move(transforms), floats(data, "mean"), floats(data, "std"),
                        std::nullopt, static_cast<int>(data.get_int("in_chans")), size, size);
}

void SamplePipeline::run(const cv::Mat& image, Rng& rng, float* out) const {
  cv::Mat pixels = image;
  if (pixels.channels() != channels_) {
    if (pixels.channels() == 1 && channels_ == 3)
      cv::cvtColor(pixels, pixels, cv::COLOR_GRAY2RGB);
    else if (pixels.channels() == 3 && channels_ == 1)
      cv::cvtColor(pixels, pixels, cv::COLOR_RGB2GRAY);
    else
      throw SampleMismatchError("image has " + std::to_string(pixels.channels()) +
                                " channels; the model takes " + std::to_string(channels_) +
                                " (data.in_chans)");
  }
  for (const auto& transform : transforms_) pixels = transform->apply(pixels, rng);
  if (pixels.rows != height_ || pixels.cols != width_)
    throw DataError("after the transforms the image is " + std::to_string(pixels.cols) + "x" +
                    std::to_string(pixels.rows) + ", the batch needs " + std::to_string(width_) +
                    "x" + std::to_string(height_) + " (set data.augment.crop or data.img_size)");
  const size_t plane = static_cast<size_t>(height_) * width_;
  for (int y = 0; y < height_; ++y) {
    const uint8_t* row = pixels.ptr<uint8_t>(y);
    for (int x = 0; x < width_; ++x)
      for (int c = 0; c < channels_; ++c)
        out[c * plane + static_cast<size_t>(y) * width_ + x] =
            (row[x * channels_ + c] / 255.0f - mean_[c]) / std_[c];
  }
  if (erasing_) erasing_->apply(out, channels_, height_, width_, rng);
}

std::string SamplePipeline::describe() const {
  std::vector<std::string> parts;
  for (const auto& t : transforms_) parts.push_back(t->describe());
  parts.push_back("Normalize");
  if (erasing_) parts.push_back("RandomErasing(p=" + std::to_string(erasing_->probability) + ")");
  return join(parts, " -> ");
}

}  // namespace vitrine::data
