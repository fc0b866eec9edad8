// Batches from a dataset: worker threads decode and augment whole batches ahead of the
// consumer (bounded prefetch), results come back in order. Every sample's randomness comes
// from (seed, epoch, position), so the same seed gives the same batches whatever the number
// of workers, and a run resumed at an epoch boundary sees exactly the batches it would have.
#pragma once

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/sample_pipeline.h"
#include "data/sample_source.h"
#include "data/sampler.h"

namespace vitrine::data {

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = true;
  int workers = 2;   // 0: load on the calling thread
  int prefetch = 2;  // batches in flight per worker
  uint64_t seed = 0;
  int rank = 0, world_size = 1;
  // Shards without padding (evaluation): every sample exactly once over the ranks.
  bool exact_shards = false;
  // Unreadable samples: false = the batch fails with the file and reason; true = the sample
  // is left out of its batch and reported through `on_skip`.
  bool skip_bad_samples = false;
  // Collated batches in page-locked memory (the worker threads pin them), so that a CUDA
  // trainer copies them to the GPU asynchronously. Needs a libtorch with CUDA.
  bool pin_memory = false;
};

struct Batch {
  at::Tensor images;   // [B, C, H, W] float
  at::Tensor labels;   // [B] int64
  at::Tensor targets;  // [B, ...] the samples' targets stacked (padded when the source pads)
  at::Tensor meta;     // [B, K] float64 the samples' meta, when the source gives it
  int64_t index = 0;   // batch number within the epoch
};

class DataLoader {
 public:
  using SkipReporter = std::function<void(const std::string& message)>;

  DataLoader(SampleSourcePtr source, LoaderOptions options);
  // A Dataset through a SamplePipeline (PipelineSource).
  DataLoader(DatasetPtr dataset, std::shared_ptr<const SamplePipeline> pipeline,
             LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t batches_per_epoch() const;
  int64_t samples_per_epoch() const;
  const SampleSource& source() const { return *source_; }
  void on_skip(SkipReporter reporter) { reporter_ = std::move(reporter); }
  // Called after next() delivers a batch: batches delivered this epoch, the epoch's batches,
  // samples delivered this epoch (progress displays).
  using BatchReporter = std::function<void(int64_t delivered, int64_t total, int64_t samples)>;
  void on_batch(BatchReporter reporter) { batch_reporter_ = std::move(reporter); }

  // Starts producing the batches of `epoch` (stopping any unfinished epoch).
  void start_epoch(int64_t epoch);
  // The next batch in order; false at the end of the epoch. Rethrows a worker's error.
  bool next(Batch& batch);

 private:
  Batch load_batch(int64_t batch_index) const;
  void worker_loop();
  void stop_workers();

  SampleSourcePtr source_;
  LoaderOptions options_;
  ShardedSampler sampler_;
  SkipReporter reporter_;
  BatchReporter batch_reporter_;
  int64_t delivered_batches_ = 0, delivered_samples_ = 0;  // this epoch, for batch_reporter_

  // Per-epoch state, guarded by mutex_.
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;
  int64_t batches_ = 0;
  int64_t next_to_claim_ = 0;    // next batch a worker may start
  int64_t next_to_deliver_ = 0;  // next batch next() returns
  std::map<int64_t, Batch> ready_;
  std::map<int64_t, std::exception_ptr> failed_;
  bool stopping_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::thread> workers_;
};

}  // namespace vitrine::data
