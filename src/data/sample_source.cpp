#include "data/sample_source.h"

#include <ATen/ATen.h>

namespace vitrine::data {

PipelineSource::PipelineSource(DatasetPtr dataset, std::shared_ptr<const SamplePipeline> pipeline)
    : dataset_(std::move(dataset)), pipeline_(std::move(pipeline)) {}

Sample PipelineSource::load(int64_t index, Rng& rng) const {
  Example example = dataset_->get(index);
  Sample sample;
  sample.image =
      at::empty({pipeline_->channels(), pipeline_->height(), pipeline_->width()}, at::kFloat);
  pipeline_->run(example.image, rng, sample.image.data_ptr<float>());
  sample.label = example.label;
  return sample;
}

}  // namespace vitrine::data
