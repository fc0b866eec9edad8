// Console progress for the training loop: a line redrawn in place on a terminal, plain lines
// every `every` steps when the output is a file or pipe (CI logs stay readable).
#pragma once

#include <cstdint>
#include <string>

namespace vitrine::train {

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
