// Console progress for the training loop: a line redrawn in place on a terminal, plain lines
// every `every` steps when the output is a file or pipe (CI logs stay readable).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace vitrine::train {

// "4m05s", "1h02m03s".
std::string format_duration(double seconds);
// "loss 0.4321 top1 91.1700".
std::string format_metrics(const std::vector<std::pair<std::string, double>>& metrics);

class Progress;

// A loader's progress on `bar`: "<label> [####....] k/N 812 img/s, ETA 1m05s" (plain lines
// every `every` batches when stdout is not a terminal). Attach with DataLoader::on_batch.
std::function<void(int64_t delivered, int64_t total, int64_t samples)> batch_progress(
    Progress& bar, const std::string& label);

class Progress {
 public:
  explicit Progress(int64_t every);
  // `total` steps in this phase; `text` the metrics to show.
  void update(const std::string& label, int64_t step, int64_t total, const std::string& text);
  // Ends a redrawn line (no-op for plain output).
  void finish();
  bool interactive() const { return interactive_; }

 private:
  int64_t every_;
  bool interactive_;
  bool open_line_ = false;
};

}  // namespace vitrine::train
