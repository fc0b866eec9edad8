// The training and evaluation loaders a `data` config node describes (dataset, pipeline,
// batch sizes, workers, bad-image policy), shared by `vitrine train` and `vitrine eval`.
#pragma once

#include <memory>

#include "config/view.h"
#include "data/loader.h"

namespace vitrine::data {

// Training: shuffled, drop_last, data.batch_size, the augmenting pipeline. Evaluation: in
// order, every sample, data.eval_batch_size, resize + center crop.
// `rank` of `world_size` processes: each sees its shard (ShardedSampler). `pin_memory`: batches
// in page-locked memory for asynchronous copies to a GPU (LoaderOptions::pin_memory).
std::unique_ptr<DataLoader> make_loader(const config::ConfigView& data, bool train, uint64_t seed,
                                        int rank = 0, int world_size = 1, bool pin_memory = false);

}  // namespace vitrine::data
