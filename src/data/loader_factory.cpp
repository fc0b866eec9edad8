#include "data/loader_factory.h"

#include "core/error.h"
#include "data/dataset_factory.h"
#include "data/sr/sr_source.h"

namespace vitrine::data {

namespace {

// data.format: sr_pairs — an HR folder and an LR folder (null: MATLAB bicubic on the fly) per
// split, the scale, the LR training patch and the passes per epoch.
SampleSourcePtr make_sr_source(const config::ConfigView& data, bool train) {
  data.expect_keys({"name",     "format",      "root",         "train_hr",       "train_lr",
                    "val_hr",   "val_lr",      "scale",        "lr_patch",       "repeat",
                    "in_chans", "num_classes", "img_size",     "batch_size",     "eval_batch_size",
                    "workers",  "prefetch",    "on_bad_image", "benchmark_root", "eval_sets"});
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

}  // namespace

std::unique_ptr<DataLoader> make_loader(const config::ConfigView& data, bool train, uint64_t seed) {
  const bool sr = data.get_string("format") == "sr_pairs";
  if (!sr) validate_data_config(data);
  LoaderOptions options;
  options.batch_size = data.get_int(train ? "batch_size" : "eval_batch_size");
  options.shuffle = train;
  options.drop_last = train;
  options.workers = static_cast<int>(data.get_int("workers"));
  options.prefetch = static_cast<int>(data.get_int("prefetch", 2));
  options.seed = seed;
  // Checked here, where it is read, for every data format.
  const std::string on_bad = data.get_string("on_bad_image", "error");
  if (on_bad != "error" && on_bad != "skip")
    throw ConfigError(data.path() + ".on_bad_image must be 'error' or 'skip', got '" + on_bad +
                      "'");
  options.skip_bad_samples = on_bad == "skip";
  if (sr) return std::make_unique<DataLoader>(make_sr_source(data, train), options);
  auto pipeline = std::make_shared<SamplePipeline>(train ? SamplePipeline::train(data)
                                                         : SamplePipeline::eval(data));
  return std::make_unique<DataLoader>(make_dataset(data, train), std::move(pipeline), options);
}

}  // namespace vitrine::data
