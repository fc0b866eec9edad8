#include "data/loader_factory.h"

#include <algorithm>
#include <filesystem>

#include "config/option_table.h"
#include "core/error.h"
#include "data/dataset_factory.h"
#include "data/dense/ade20k_source.h"
#include "data/dense/coco_source.h"
#include "data/sr/sr_source.h"

namespace vitrine::data {

namespace {

// The keys of data.* in every format: what make_loader reads (batching, workers, the
// bad-image policy) and what models and tasks read from it (classes, channels, image size).
const char* const kLoaderKeys[] = {"name",        "format",   "root",        "in_chans",
                                   "num_classes", "img_size", "batch_size",  "eval_batch_size",
                                   "workers",     "prefetch", "on_bad_image"};
// ... and of the dense formats (COCO, ADE20K): image and annotation paths per split, the
// resize scale, flip probability and normalisation.
const char* const kDenseKeys[] = {"train_images", "train_annotations",
                                  "val_images",   "val_annotations",
                                  "img_scale",    "flip",
                                  "mean",         "std"};

// Rejects keys of data.* outside the loader's, the dense formats' (when `dense`) and the
// format's `own`.
void expect_format_keys(const config::ConfigView& data, bool dense,
                        std::initializer_list<const char*> own) {
  std::vector<std::string> known(std::begin(kLoaderKeys), std::end(kLoaderKeys));
  if (dense) known.insert(known.end(), std::begin(kDenseKeys), std::end(kDenseKeys));
  known.insert(known.end(), own.begin(), own.end());
  config::reject_unknown_keys(data, known);
}

// data.format: sr_pairs — an HR folder and an LR folder (null: MATLAB bicubic on the fly) per
// split, the scale, the LR training patch and the passes per epoch.
SampleSourcePtr make_sr_source(const config::ConfigView& data, bool train) {
  expect_format_keys(data, /*dense=*/false,
                     {"train_hr", "train_lr", "val_hr", "val_lr", "scale", "lr_patch", "repeat",
                      "benchmark_root", "eval_sets"});
  SrPairOptions o;
  o.hr_dir = data.get_string(train ? "train_hr" : "val_hr");
  o.lr_dir = data.get_optional_string(train ? "train_lr" : "val_lr").value_or("");
  o.scale = static_cast<int>(data.get_int("scale"));
  o.channels = static_cast<int>(data.get_int("in_chans", 3));
  if (!train && data.get_int("eval_batch_size") != 1)
    throw ConfigError(data.path() +
                      ".eval_batch_size must be 1 for SR evaluation (whole images differ in size)");
  auto pairs = std::make_shared<const SrPairDataset>(o);
  return std::make_shared<SrSource>(pairs, train ? static_cast<int>(data.get_int("lr_patch")) : 0,
                                    train ? static_cast<int>(data.get_int("repeat", 1)) : 1);
}

// ROOT / data.{train,val}_<key>: a split's folder or file of the dense formats.
std::string split_path(const config::ConfigView& data, bool train, const std::string& key) {
  return (std::filesystem::path(data.get_string("root")) /
          data.get_string((train ? "train_" : "val_") + key))
      .string();
}

// data.mean / data.std of the dense formats: three values each, RGB, on the 0-255 scale.
void read_normalisation(const config::ConfigView& data, ChannelStats& mean, ChannelStats& stdev) {
  const std::vector<double> m = data.get_float_list("mean"), s = data.get_float_list("std");
  if (m.size() != 3 || s.size() != 3)
    throw ConfigError(data.path() + ".mean and .std need three values (RGB, 0-255 scale)");
  std::copy(m.begin(), m.end(), mean.begin());
  std::copy(s.begin(), s.end(), stdev.begin());
}

// data.format: coco — an image folder and an instances_*.json per split, mmdetection's
// resize/flip/normalise/pad settings.
SampleSourcePtr make_coco_source(const config::ConfigView& data, bool train) {
  expect_format_keys(data, /*dense=*/true, {"size_divisor"});
  CocoSourceOptions o;
  o.train = train;
  o.image_dir = split_path(data, train, "images");
  o.annotation_file = split_path(data, train, "annotations");
  const std::vector<int64_t> scale = data.get_int_list("img_scale");
  if (scale.size() != 2)
    throw ConfigError(data.path() + ".img_scale must be [long_edge, short_edge], e.g. [1333, 800]");
  o.long_edge = static_cast<int>(std::max(scale[0], scale[1]));
  o.short_edge = static_cast<int>(std::min(scale[0], scale[1]));
  o.size_divisor = static_cast<int>(data.get_int("size_divisor", 32));
  o.flip = data.get_float("flip", 0.5);
  read_normalisation(data, o.mean, o.std);
  auto source = std::make_shared<CocoSource>(o);
  const int64_t classes = data.get_int("num_classes");
  if (static_cast<int64_t>(source->category_ids().size()) != classes)
    throw ConfigError(o.annotation_file + " has " + std::to_string(source->category_ids().size()) +
                      " categories but " + data.path() + ".num_classes" + " is " +
                      std::to_string(classes));
  return source;
}

// data.format: ade20k — images/ and annotations/ folders per split, mmseg's pipeline settings.
SampleSourcePtr make_ade20k_source(const config::ConfigView& data, bool train) {
  expect_format_keys(
      data, /*dense=*/true,
      {"ratio_range", "crop_size", "cat_max_ratio", "photometric", "reduce_zero_label"});
  Ade20kOptions o;
  o.train = train;
  o.image_dir = split_path(data, train, "images");
  o.annotation_dir = split_path(data, train, "annotations");
  const auto scale = data.get_int_list("img_scale");
  const auto ratio = data.get_float_list("ratio_range");
  const auto crop = data.get_int_list("crop_size");
  if (scale.size() != 2 || ratio.size() != 2 || crop.size() != 2)
    throw ConfigError(data.path() +
                      ": img_scale [long, short], ratio_range [min, max] and crop_size [h, w] "
                      "take two values each");
  o.scale_long = static_cast<int>(std::max(scale[0], scale[1]));
  o.scale_short = static_cast<int>(std::min(scale[0], scale[1]));
  o.ratio_min = ratio[0];
  o.ratio_max = ratio[1];
  o.crop_h = static_cast<int>(crop[0]);
  o.crop_w = static_cast<int>(crop[1]);
  o.cat_max_ratio = data.get_float("cat_max_ratio", 0.75);
  o.flip = data.get_float("flip", 0.5);
  o.photometric = data.get_bool("photometric", true);
  o.reduce_zero_label = data.get_bool("reduce_zero_label", true);
  read_normalisation(data, o.mean, o.std);
  return std::make_shared<Ade20kSource>(o);
}

}  // namespace

std::unique_ptr<DataLoader> make_loader(const config::ConfigView& data, bool train, uint64_t seed,
                                        int rank, int world_size, bool pin_memory) {
  const std::string format = data.get_string("format");
  const bool sr = format == "sr_pairs", coco = format == "coco", ade = format == "ade20k";
  if (!sr && !coco && !ade)  // idx, image_folder, file_list
    expect_format_keys(data, /*dense=*/false,
                       {"train_split", "val_split", "train_list", "val_list", "mean", "std",
                        "crop_pct", "interpolation", "augment", "train_crop_size",
                        "tta"});  // tta: read by the classification task
  LoaderOptions options;
  options.batch_size = data.get_int(train ? "batch_size" : "eval_batch_size");
  options.shuffle = train;
  options.drop_last = train;
  options.workers = static_cast<int>(data.get_int("workers"));
  options.prefetch = static_cast<int>(data.get_int("prefetch", 2));
  options.seed = seed;
  options.rank = rank;
  options.world_size = world_size;
  options.exact_shards = !train;
  options.pin_memory = pin_memory;
  // Checked here, where it is read, for every data format.
  const std::string on_bad = data.get_string("on_bad_image", "error");
  if (on_bad != "error" && on_bad != "skip")
    throw ConfigError(data.path() + ".on_bad_image must be 'error' or 'skip', got '" + on_bad +
                      "'");
  options.skip_bad_samples = on_bad == "skip";
  if (sr) return std::make_unique<DataLoader>(make_sr_source(data, train), options);
  if (coco) return std::make_unique<DataLoader>(make_coco_source(data, train), options);
  if (ade) return std::make_unique<DataLoader>(make_ade20k_source(data, train), options);
  auto pipeline = std::make_shared<SamplePipeline>(train ? SamplePipeline::train(data)
                                                         : SamplePipeline::eval(data));
  return std::make_unique<DataLoader>(make_dataset(data, train), std::move(pipeline), options);
}

}  // namespace vitrine::data
