#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "core/text.h"
#include "models/registry.h"

namespace vitrine::cli {
namespace {

// "-" where the paper gives no number.
std::string paper_number(double value, int decimals, const char* suffix = "") {
  if (value <= 0) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.*f%s", decimals, value, suffix);
  return buffer;
}

}  // namespace

// `vitrine models [filter]`: every registered variant with its measured parameter count
// and analytic FLOPs beside the paper's numbers.
int run_models(const std::string& filter) {
  const auto& entries = models::ModelRegistry::builtin().entries();
  if (entries.empty()) {
    std::cout << "No models are registered yet: the zoo arrives with issues #4, #7, #8.\n";
    return kExitOk;
  }
  std::printf("%-22s %-10s %6s %14s %9s %12s %9s %7s\n", "model", "family", "img", "params",
              "GFLOPs", "paper_params", "paper_GF", "top1");
  size_t shown = 0;
  for (const auto& e : entries) {
    if (!filter.empty() && e.name.find(filter) == std::string::npos &&
        e.family.find(filter) == std::string::npos)
      continue;
    int64_t params = 0;
    double flops = 0;
    if (e.count_parameters && e.count_flops) {
      params = e.count_parameters();
      flops = e.count_flops(e.img_size);
    } else {
      config::Node empty = config::Node::dict();
      models::ModelPtr model = e.create(config::ConfigView(empty, "model"));
      params = models::count_parameters(*model);
      flops = model->flops(e.img_size);
    }
    std::printf("%-22s %-10s %6lld %14s %9.2f %12s %9s %7s\n", e.name.c_str(), e.family.c_str(),
                static_cast<long long>(e.img_size), with_thousands(params).c_str(), flops / 1e9,
                paper_number(e.paper.params_m,
                             e.paper.params_m < 1     ? 3
                             : e.paper.params_m < 100 ? 1
                                                      : 0,
                             "M")
                    .c_str(),
                paper_number(e.paper.gflops, 1).c_str(), paper_number(e.paper.top1, 1).c_str());
    ++shown;
  }
  if (shown == 0) std::cout << "No model matches '" << filter << "'.\n";
  return kExitOk;
}

}  // namespace vitrine::cli
