// Distributed evaluation's combination of shards, with two "ranks" on two threads whose sum
// meets at a barrier: RankGroup::gather and SegmentationMeter::combine.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "evaluation/seg_metrics.h"
#include "train/task.h"

namespace {

using vitrine::evaluation::SegmentationMeter;
using vitrine::train::RankGroup;

// An all-reduce of two participants: each call blocks until the other rank's call with the
// same sequence number arrives, then both get the element-wise sum.
class TwoRankSum {
 public:
  RankGroup group(int rank) {
    return {rank, 2, [this, rank](const std::vector<double>& v) { return sum(rank, v); }};
  }

 private:
  std::vector<double> sum(int rank, const std::vector<double>& v) {
    std::unique_lock<std::mutex> lock(mutex_);
    const int round = rounds_[rank]++;
    EXPECT_EQ(pending_.count(round) == 0 || pending_[round].size() == v.size(), true);
    auto& acc = pending_[round];
    if (acc.empty()) acc.assign(v.size(), 0.0);
    for (size_t i = 0; i < v.size(); ++i) acc[i] += v[i];
    ++arrived_[round];
    cv_.notify_all();
    cv_.wait(lock, [&] { return arrived_[round] == 2; });
    return acc;
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  int rounds_[2] = {0, 0};
  std::map<int, std::vector<double>> pending_;
  std::map<int, int> arrived_;
};

TEST(RankGroup, GatherConcatenatesInRankOrderOnEveryRank) {
  TwoRankSum sums;
  std::vector<double> got0, got1;
  std::thread t0([&] { got0 = sums.group(0).gather({1, 2, 3}); });
  std::thread t1([&] { got1 = sums.group(1).gather({7, 8}); });
  t0.join();
  t1.join();
  EXPECT_EQ(got0, (std::vector<double>{1, 2, 3, 7, 8}));
  EXPECT_EQ(got1, got0);
  // One process: itself.
  EXPECT_EQ(RankGroup{}.gather({4, 5}), (std::vector<double>{4, 5}));
}

TEST(RankGroup, SegmentationShardsCombineToTheWholeSet) {
  torch::manual_seed(0);
  const at::Tensor pred = torch::randint(0, 3, {4, 6, 5}, torch::kLong);
  at::Tensor label = torch::randint(0, 3, {4, 6, 5}, torch::kLong);
  label.index_put_({0, 0}, 255);  // ignored pixels
  SegmentationMeter whole(3);
  for (int64_t i = 0; i < 4; ++i) whole.add(pred[i], label[i]);
  TwoRankSum sums;
  SegmentationMeter a(3), b(3);
  a.add(pred[0], label[0]);
  for (int64_t i = 1; i < 4; ++i) b.add(pred[i], label[i]);
  std::thread t0([&] { a.combine(sums.group(0).sum); });
  std::thread t1([&] { b.combine(sums.group(1).sum); });
  t0.join();
  t1.join();
  for (const SegmentationMeter* m : {&a, &b}) {
    EXPECT_DOUBLE_EQ(m->miou(), whole.miou());
    EXPECT_DOUBLE_EQ(m->macc(), whole.macc());
    EXPECT_DOUBLE_EQ(m->aacc(), whole.aacc());
  }
  // A shard alone differs (the test can fail).
  SegmentationMeter alone(3);
  alone.add(pred[0], label[0]);
  EXPECT_NE(alone.miou(), whole.miou());
}

}  // namespace
