#include "train/checkpoint_keeper.h"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "core/files.h"

namespace vitrine::train {

void keep_checkpoints(const CheckpointPolicy& policy, int64_t epoch, RunProgress& progress,
                      CheckpointContents& contents) {
  auto better = [&](double a, double b) { return policy.higher_is_better ? a > b : a < b; };
  bool is_best = false;
  std::optional<int64_t> evicted;
  if (progress.metric) {
    const double m = *progress.metric;
    if (!progress.best_metric || better(m, *progress.best_metric)) {
      progress.best_metric = m;
      progress.best_epoch = epoch;
      is_best = true;
    }
    if (policy.keep_top_k > 0) {
      auto& top = progress.top_k;
      top.emplace_back(m, epoch);
      std::stable_sort(top.begin(), top.end(),
                       [&](const auto& a, const auto& b) { return better(a.first, b.first); });
      if (static_cast<int64_t>(top.size()) > policy.keep_top_k) {
        evicted = top.back().second;
        top.pop_back();
      }
    }
  }
  contents.progress = progress;
  const std::vector<char> bytes = encode_checkpoint(contents);
  const auto path = [&](const std::string& name) { return policy.dir + "/" + name; };
  bool kept = false;
  for (const auto& entry : progress.top_k) kept |= entry.second == epoch;
  // Files name epochs from 1, as the console does.
  if (kept) write_file_atomically(path("checkpoint-" + std::to_string(epoch + 1) + ".pt"), bytes);
  if (is_best) write_file_atomically(path("best.pt"), bytes);
  write_file_atomically(path("last.pt"), bytes);
  if (evicted && *evicted != epoch)
    std::remove(path("checkpoint-" + std::to_string(*evicted + 1) + ".pt").c_str());
}

}  // namespace vitrine::train
