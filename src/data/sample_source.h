// What a DataLoader batches: samples by index, each turned into tensors with the sample's own
// random stream. Classification pairs a Dataset with a SamplePipeline (image -> normalised
// CHW floats + label); super-resolution yields an LR input and its HR target.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/random.h"
#include "data/sample_pipeline.h"

namespace vitrine::data {

struct Sample {
  at::Tensor image;   // [C, H, W] float
  int64_t label = 0;  // classification
  at::Tensor target;  // [C, H', W'] float (super-resolution), [G, 5] boxes and labels
                      // (detection), [1, H, W] label map (segmentation); else undefined
  at::Tensor meta;    // [K] float64 per-sample facts a task needs back (image id, sizes,
                      // scale factors), undefined when the source has none
};

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual int64_t size() const = 0;
  // Where sample `index` comes from, for messages.
  virtual std::string source(int64_t index) const = 0;
  // Throws DataError for an unreadable sample.
  virtual Sample load(int64_t index, Rng& rng) const = 0;
  virtual std::vector<std::string> classes() const { return {}; }
  virtual std::string describe() const = 0;
  // Samples of different sizes are batched by padding (images with 0 at the bottom and right,
  // targets with `target_pad_value`) instead of being an error: detection and segmentation.
  virtual bool pads_batches() const { return false; }
  virtual double target_pad_value() const { return 0.0; }
};
using SampleSourcePtr = std::shared_ptr<const SampleSource>;

// A Dataset through a SamplePipeline.
class PipelineSource : public SampleSource {
 public:
  PipelineSource(DatasetPtr dataset, std::shared_ptr<const SamplePipeline> pipeline);
  int64_t size() const override { return dataset_->size(); }
  std::string source(int64_t index) const override { return dataset_->source(index); }
  Sample load(int64_t index, Rng& rng) const override;
  std::vector<std::string> classes() const override { return dataset_->classes(); }
  std::string describe() const override { return pipeline_->describe(); }

 private:
  DatasetPtr dataset_;
  std::shared_ptr<const SamplePipeline> pipeline_;
};

}  // namespace vitrine::data
