#include "data/sampler.h"

#include <numeric>
#include <stdexcept>

#include "data/random.h"

namespace vitrine::data {

int64_t ShardedSampler::samples_per_rank() const {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw std::invalid_argument("sampler: rank " + std::to_string(rank) + " outside world of " +
                                std::to_string(world_size));
  if (exact) return (dataset_size - rank + world_size - 1) / world_size;
  if (drop_last) return dataset_size / world_size;
  return (dataset_size + world_size - 1) / world_size;
}

std::vector<int64_t> ShardedSampler::indices(int64_t epoch) const {
  const int64_t per_rank = samples_per_rank();
  std::vector<int64_t> order(static_cast<size_t>(dataset_size));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) {
    Rng rng(mix_seed(seed, static_cast<uint64_t>(epoch)));
    for (int64_t i = dataset_size - 1; i > 0; --i)
      std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng.randint(0, i))]);
  }
  const int64_t total = exact ? dataset_size : per_rank * world_size;
  // Pad by wrapping around (the dataset may be smaller than the padding).
  for (int64_t i = dataset_size; i < total; ++i)
    order.push_back(
        order[static_cast<size_t>((i - dataset_size) % std::max<int64_t>(1, dataset_size))]);
  order.resize(static_cast<size_t>(total));
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(per_rank));
  for (int64_t i = rank; i < total; i += world_size) mine.push_back(order[static_cast<size_t>(i)]);
  return mine;
}

}  // namespace vitrine::data
