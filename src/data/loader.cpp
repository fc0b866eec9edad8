#include "data/loader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>

#include "core/error.h"

namespace vitrine::data {
namespace {

// Tensors of equal rank, each padded at the end of every dimension to the largest size among
// them (mmdetection's collate: images to the batch's largest height and width), then stacked.
at::Tensor pad_and_stack(const std::vector<at::Tensor>& tensors, double value) {
  std::vector<int64_t> shape(tensors.front().sizes().begin(), tensors.front().sizes().end());
  for (const at::Tensor& t : tensors) {
    if (t.dim() != static_cast<int64_t>(shape.size()))
      throw DataError("samples of one batch have tensors of different ranks");
    for (size_t d = 0; d < shape.size(); ++d) shape[d] = std::max(shape[d], t.size(d));
  }
  std::vector<int64_t> batch_shape{static_cast<int64_t>(tensors.size())};
  batch_shape.insert(batch_shape.end(), shape.begin(), shape.end());
  at::Tensor out = at::full(batch_shape, value, tensors.front().options());
  for (size_t i = 0; i < tensors.size(); ++i) {
    at::Tensor slot = out[static_cast<int64_t>(i)];
    for (int64_t d = 0; d < tensors[i].dim(); ++d) slot = slot.narrow(d, 0, tensors[i].size(d));
    slot.copy_(tensors[i]);
  }
  return out;
}

}  // namespace

DataLoader::DataLoader(DatasetPtr dataset, std::shared_ptr<const SamplePipeline> pipeline,
                       LoaderOptions options)
    : DataLoader(std::make_shared<PipelineSource>(std::move(dataset), std::move(pipeline)),
                 options) {}

DataLoader::DataLoader(SampleSourcePtr source, LoaderOptions options)
    : source_(std::move(source)), options_(options) {
  if (options_.batch_size < 1) throw ConfigError("batch size must be >= 1");
  if (options_.workers < 0 || options_.prefetch < 1)
    throw ConfigError("loader workers must be >= 0 and prefetch >= 1");
  sampler_.dataset_size = source_->size();
  sampler_.shuffle = options_.shuffle;
  sampler_.seed = options_.seed;
  sampler_.rank = options_.rank;
  sampler_.world_size = options_.world_size;
  sampler_.exact = options_.exact_shards;
  if (batches_per_epoch() == 0)
    throw ConfigError("the dataset has " + std::to_string(source_->size()) +
                      " samples, fewer than one batch of " + std::to_string(options_.batch_size) +
                      (options_.drop_last ? " (drop_last is on)" : ""));
}

DataLoader::~DataLoader() {
  stop_workers();
}

int64_t DataLoader::samples_per_epoch() const {
  return sampler_.samples_per_rank();
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = samples_per_epoch();
  return options_.drop_last ? n / options_.batch_size
                            : (n + options_.batch_size - 1) / options_.batch_size;
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  ready_.clear();
  failed_.clear();
}

void DataLoader::start_epoch(int64_t epoch) {
  stop_workers();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    epoch_ = epoch;
    order_ = sampler_.indices(epoch);
    batches_ = batches_per_epoch();
    next_to_claim_ = 0;
    next_to_deliver_ = 0;
  }
  delivered_batches_ = 0;
  delivered_samples_ = 0;
  for (int w = 0; w < options_.workers; ++w) workers_.emplace_back([this] { worker_loop(); });
}

Batch DataLoader::load_batch(int64_t batch_index) const {
  const int64_t begin = batch_index * options_.batch_size;
  const int64_t end =
      std::min<int64_t>(begin + options_.batch_size, static_cast<int64_t>(order_.size()));
  std::vector<at::Tensor> images, targets, metas;
  std::vector<int64_t> labels;
  const bool pads = source_->pads_batches();
  for (int64_t position = begin; position < end; ++position) {
    const int64_t index = order_[static_cast<size_t>(position)];
    // One stream per (epoch, position, rank): independent of which worker runs it.
    Rng rng(mix_seed(mix_seed(options_.seed, static_cast<uint64_t>(epoch_)),
                     static_cast<uint64_t>(position * options_.world_size + options_.rank)),
            SampleIdentity{options_.seed, index, epoch_});
    try {
      Sample sample = source_->load(index, rng);
      if (!pads && !images.empty() && sample.image.sizes() != images.front().sizes())
        throw SampleMismatchError(
            "its input is " + std::to_string(sample.image.size(1)) + "x" +
            std::to_string(sample.image.size(2)) + " but the batch's first is " +
            std::to_string(images.front().size(1)) + "x" + std::to_string(images.front().size(2)) +
            " (images of different sizes need batch size 1)");
      images.push_back(std::move(sample.image));
      labels.push_back(sample.label);
      if (sample.target.defined()) targets.push_back(std::move(sample.target));
      if (sample.meta.defined()) metas.push_back(std::move(sample.meta));
    } catch (const DataError& e) {
      const std::string message = source_->source(index) + ": " + e.what();
      // A sample that does not fit the config is not a bad file: its message names the fix.
      if (!options_.skip_bad_samples && dynamic_cast<const SampleMismatchError*>(&e))
        throw DataError(message);
      if (!options_.skip_bad_samples)
        throw DataError(message + " (set data.on_bad_image=skip to leave such samples out)");
      if (reporter_) reporter_(message);
    }
  }
  Batch batch;
  if (images.empty()) {
    batch.images = at::empty({0}, at::kFloat);
    batch.labels = at::empty({0}, at::kLong);
  } else {
    batch.images = pads ? pad_and_stack(images, 0.0) : at::stack(images);
    batch.labels = at::tensor(labels, at::kLong);
    if (!targets.empty())
      batch.targets =
          pads ? pad_and_stack(targets, source_->target_pad_value()) : at::stack(targets);
    if (!metas.empty()) batch.meta = at::stack(metas);
    if (options_.pin_memory) {
      batch.images = batch.images.pin_memory();
      batch.labels = batch.labels.pin_memory();
      if (batch.targets.defined()) batch.targets = batch.targets.pin_memory();
    }
  }
  batch.index = batch_index;
  return batch;
}

void DataLoader::worker_loop() {
  const int64_t window = int64_t{options_.workers} * options_.prefetch;
  while (true) {
    int64_t mine;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] {
        return stopping_ || next_to_claim_ >= batches_ ||
               next_to_claim_ < next_to_deliver_ + window;
      });
      if (stopping_ || next_to_claim_ >= batches_) return;
      mine = next_to_claim_++;
    }
    Batch batch;
    std::exception_ptr error;
    try {
      batch = load_batch(mine);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error)
        failed_[mine] = error;
      else
        ready_[mine] = std::move(batch);
    }
    changed_.notify_all();
  }
}

bool DataLoader::next(Batch& batch) {
  while (true) {
    int64_t wanted;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (next_to_deliver_ >= batches_) return false;
      wanted = next_to_deliver_;
      if (!workers_.empty()) {
        changed_.wait(lock, [&] { return ready_.count(wanted) || failed_.count(wanted); });
        if (auto f = failed_.find(wanted); f != failed_.end()) {
          std::exception_ptr error = f->second;
          failed_.erase(f);
          ++next_to_deliver_;
          lock.unlock();
          changed_.notify_all();
          std::rethrow_exception(error);
        }
        batch = std::move(ready_[wanted]);
        ready_.erase(wanted);
        ++next_to_deliver_;
        lock.unlock();
        changed_.notify_all();
      } else {
        ++next_to_deliver_;
        lock.unlock();
        batch = load_batch(wanted);
      }
    }
    if (batch.images.size(0) == 0) continue;  // a batch of only skipped samples is dropped
    ++delivered_batches_;
    delivered_samples_ += batch.images.size(0);
    if (batch_reporter_) batch_reporter_(delivered_batches_, batches_, delivered_samples_);
    return true;
  }
}

}  // namespace vitrine::data
