// Multi-process data parallelism on torch.distributed's c10d (no transport of our own): a
// TCPStore hosted by rank 0 and a Gloo process group. The trainer broadcasts rank 0's
// weights at start, averages gradients over the ranks before each optimiser step (flattened
// into buckets, one all-reduce each), sums its metrics across ranks, and leaves logging and
// checkpoints to rank 0.
//   Settings: the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
//   MASTER_PORT), overridden by the `dist` config keys; one process when neither says more.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "config/view.h"

namespace vitrine::train {

struct DistributedOptions {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  double timeout_s = 300;  // a rank that stops answering ends the others within this
  double bucket_mb = 25;   // gradient all-reduce bucket size (DDP's default)
  // DDP's switches: gradients all-reduced in buckets from autograd hooks while backward runs
  // (else after it, in one pass); rank 0's buffers broadcast before each forward; BatchNorm
  // statistics over every rank (SyncBatchNorm).
  bool overlap = true;
  bool broadcast_buffers = true;
  bool sync_batchnorm = false;
};

// From the environment, then `dist.*` (rank, world_size, local_rank, master_addr,
// master_port, timeout_s, bucket_mb); ConfigError for inconsistent values.
DistributedOptions distributed_options(const config::ConfigView& dist);

class Distributed {
 public:
  // Connects to the other ranks (rank 0 hosts the store); throws a clear error when the port
  // is taken or a rank does not come within the timeout.
  explicit Distributed(const DistributedOptions& options);
  ~Distributed();

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  bool is_main() const { return options_.rank == 0; }

  // Rank 0's values into every rank's tensors (in place), flattened per dtype (one broadcast
  // each).
  void broadcast(const std::vector<at::Tensor>& tensors);
  // Every defined gradient of `params` replaced by its mean over the ranks (after backward).
  void average_gradients(const std::vector<at::Tensor>& params);

  // Overlapped averaging (GradientReducer) over `params`, which must require gradients:
  // buckets of bucket_mb (the first 1 MB) all-reduced from hooks while backward runs.
  void attach_reducer(const std::vector<at::Tensor>& params);
  bool has_reducer() const;
  // Around the backward of the last micro-batch of an accumulation group: arm before it,
  // finish after it (then the gradients are the means); other backwards only accumulate.
  void arm_reducer();
  void finish_reducer();
  // Sums `t` over the ranks in place (SyncBatchNorm's statistics and their gradients).
  void all_reduce_sum(at::Tensor& t);
  // Element-wise sums over the ranks.
  std::vector<double> sum(const std::vector<double>& values);
  // Rank 0's string, on every rank.
  std::string share(const std::string& key, const std::string& value_on_main);
  void barrier();

 private:
  struct Impl;
  DistributedOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vitrine::train
