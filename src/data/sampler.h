// Which dataset indices a process visits in an epoch, in which order: torch's
// DistributedSampler semantics (pad to a multiple of the world size by repeating the head,
// then every world-th index from `rank`), with the permutation drawn from (seed, epoch) so
// every rank agrees without communicating and a resumed run replays the same order.
#pragma once

#include <cstdint>
#include <vector>

namespace vitrine::data {

struct ShardedSampler {
  int64_t dataset_size = 0;
  bool shuffle = true;
  uint64_t seed = 0;
  int rank = 0, world_size = 1;
  bool drop_last = false;  // drop the tail instead of padding (torch's drop_last)
  // Every index exactly once over the ranks, no padding (shards differ in size by at most
  // one): evaluation, where a repeated sample would count twice in the metrics.
  bool exact = false;

  // Indices this rank visits in `epoch`.
  std::vector<int64_t> indices(int64_t epoch) const;
  int64_t samples_per_rank() const;
};

}  // namespace vitrine::data
