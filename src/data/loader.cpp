#include "data/loader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>

#include "core/error.h"

namespace vitrine::data {

DataLoader::DataLoader(DatasetPtr dataset, std::shared_ptr<const SamplePipeline> pipeline,
                       LoaderOptions options)
    : dataset_(std::move(dataset)), pipeline_(std::move(pipeline)), options_(options) {
  if (options_.batch_size < 1) throw ConfigError("batch size must be >= 1");
  if (options_.workers < 0 || options_.prefetch < 1)
    throw ConfigError("loader workers must be >= 0 and prefetch >= 1");
  sampler_.dataset_size = dataset_->size();
  sampler_.shuffle = options_.shuffle;
  sampler_.seed = options_.seed;
  sampler_.rank = options_.rank;
  sampler_.world_size = options_.world_size;
  if (batches_per_epoch() == 0)
    throw ConfigError("the dataset has " + std::to_string(dataset_->size()) +
                      " samples, fewer than one batch of " + std::to_string(options_.batch_size) +
                      (options_.drop_last ? " (drop_last is on)" : ""));
}

DataLoader::~DataLoader() { stop_workers(); }

int64_t DataLoader::samples_per_epoch() const { return sampler_.samples_per_rank(); }

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
  for (int w = 0; w < options_.workers; ++w) workers_.emplace_back([this] { worker_loop(); });
}

Batch DataLoader::load_batch(int64_t batch_index) const {
  const int64_t begin = batch_index * options_.batch_size;
  const int64_t end =
      std::min<int64_t>(begin + options_.batch_size, static_cast<int64_t>(order_.size()));
  const int c = pipeline_->channels(), h = pipeline_->height(), w = pipeline_->width();
  const int64_t sample_size = int64_t{c} * h * w;
  at::Tensor images = at::empty({end - begin, c, h, w}, at::kFloat);
  at::Tensor labels = at::empty({end - begin}, at::kLong);
  float* image_data = images.data_ptr<float>();
  int64_t* label_data = labels.data_ptr<int64_t>();
  int64_t kept = 0;
  for (int64_t position = begin; position < end; ++position) {
    const int64_t index = order_[static_cast<size_t>(position)];
    // One stream per (epoch, position, rank): independent of which worker runs it.
    Rng rng(mix_seed(mix_seed(options_.seed, static_cast<uint64_t>(epoch_)),
                     static_cast<uint64_t>(position * options_.world_size + options_.rank)));
    try {
      Example example = dataset_->get(index);
      pipeline_->run(example.image, rng, image_data + kept * sample_size);
      label_data[kept] = example.label;
      ++kept;
    } catch (const DataError& e) {
      const std::string message = dataset_->source(index) + ": " + e.what();
      if (!options_.skip_bad_samples)
        throw DataError(message + " (set data.on_bad_image=skip to leave such samples out)");
      if (reporter_) reporter_(message);
    }
  }
  Batch batch;
  batch.images = kept == end - begin ? images : images.narrow(0, 0, kept);
  batch.labels = kept == end - begin ? labels : labels.narrow(0, 0, kept);
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
    if (batch.images.size(0) > 0) return true;  // a batch of only skipped samples is dropped
  }
}

}  // namespace vitrine::data
