#include "train/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

namespace vitrine::train {

std::string format_duration(double seconds) {
  const int64_t total = static_cast<int64_t>(seconds + 0.5);
  char buffer[32];
  if (total >= 3600)
    std::snprintf(buffer, sizeof(buffer), "%lldh%02lldm%02llds",
                  static_cast<long long>(total / 3600), static_cast<long long>(total / 60 % 60),
                  static_cast<long long>(total % 60));
  else
    std::snprintf(buffer, sizeof(buffer), "%lldm%02llds", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  return buffer;
}

std::function<void(int64_t, int64_t, int64_t)> batch_progress(Progress& bar,
                                                              const std::string& label) {
  const auto start = std::make_shared<std::chrono::steady_clock::time_point>();
  return [&bar, label, start](int64_t delivered, int64_t total, int64_t samples) {
    if (delivered == 1) *start = std::chrono::steady_clock::now();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - *start).count();
    std::string text;
    if (delivered > 1 && seconds > 0) {
      // Rates from the first delivered batch on (its wait holds the loader's start-up).
      const double per_batch = seconds / static_cast<double>(delivered - 1);
      char line[96];
      std::snprintf(line, sizeof(line), "%.0f img/s, ETA %s",
                    static_cast<double>(samples) * (delivered - 1) / delivered / seconds,
                    format_duration(per_batch * static_cast<double>(total - delivered)).c_str());
      text = line;
    }
    bar.update(label, delivered, total, text);
    if (delivered == total) bar.finish();
  };
}

std::string format_metrics(const std::vector<std::pair<std::string, double>>& metrics) {
  std::string out;
  char buffer[64];
  for (const auto& [key, value] : metrics) {
    std::snprintf(buffer, sizeof(buffer), "%s%s %.4f", out.empty() ? "" : " ", key.c_str(), value);
    out += buffer;
  }
  return out;
}

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
