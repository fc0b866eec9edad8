#include "data/loader_factory.h"

#include "data/dataset_factory.h"

namespace vitrine::data {

std::unique_ptr<DataLoader> make_loader(const config::ConfigView& data, bool train,
                                        uint64_t seed) {
  validate_data_config(data);
  LoaderOptions options;
  options.batch_size = data.get_int(train ? "batch_size" : "eval_batch_size");
  options.shuffle = train;
  options.drop_last = train;
  options.workers = static_cast<int>(data.get_int("workers"));
  options.prefetch = static_cast<int>(data.get_int("prefetch", 2));
  options.seed = seed;
  options.skip_bad_samples = data.get_string("on_bad_image", "error") == "skip";
  auto pipeline = std::make_shared<SamplePipeline>(train ? SamplePipeline::train(data)
                                                         : SamplePipeline::eval(data));
  return std::make_unique<DataLoader>(make_dataset(data, train), std::move(pipeline), options);
}

}  // namespace vitrine::data
