#include "train/progress.h"

#include <unistd.h>

#include <cstdio>

namespace vitrine::train {

Progress::Progress(int64_t every) : every_(every < 1 ? 1 : every), interactive_(::isatty(1)) {}

void Progress::update(const std::string& label, int64_t step, int64_t total,
                      const std::string& text) {
  const int width = 24;
  if (interactive_) {
    const int filled = total > 0 ? static_cast<int>(width * step / total) : 0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::printf("\r%s [%s] %lld/%lld %s\033[K", label.c_str(), bar.c_str(),
                static_cast<long long>(step), static_cast<long long>(total), text.c_str());
    std::fflush(stdout);
    open_line_ = true;
  } else if (step % every_ == 0 || step == total) {
    std::printf("%s %lld/%lld %s\n", label.c_str(), static_cast<long long>(step),
                static_cast<long long>(total), text.c_str());
    std::fflush(stdout);
  }
}

void Progress::finish() {
  if (open_line_) {
    std::printf("\n");
    std::fflush(stdout);
    open_line_ = false;
  }
}

}  // namespace vitrine::train
