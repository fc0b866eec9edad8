// `vitrine models`: the zoo as a table.
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
// and analytic FLOPs beside the paper's numbers, as a text table or (--markdown) a Markdown one.
int run_models(const std::string& filter, bool markdown) {
  std::vector<const models::ModelEntry*> entries;
  std::vector<std::string> names;
  for (const auto& e : models::ModelRegistry::builtin().entries()) {
    names.push_back(e.name);
    if (filter.empty() || e.name.find(filter) != std::string::npos ||
        e.family.find(filter) != std::string::npos)
      entries.push_back(&e);
  }
  if (entries.empty())
    throw UsageError("no model or family matches '" + filter + "'" + did_you_mean(filter, names) +
                     "; `vitrine models` lists them all");
  if (markdown) {
    std::printf(
        "| model | family | img | params | GFLOPs | paper params | paper GFLOPs | top-1 |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
  } else {
    std::printf("%-22s %-10s %6s %14s %9s %12s %9s %7s\n", "model", "family", "img", "params",
                "GFLOPs", "paper_params", "paper_GF", "top1");
  }
  for (const models::ModelEntry* entry : entries) {
    const models::ModelEntry& e = *entry;
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
    const int decimals = e.paper.params_m < 1 ? 3 : e.paper.params_m < 100 ? 1 : 0;
    const std::string paper_params = paper_number(e.paper.params_m, decimals, "M");
    const std::string paper_flops = paper_number(e.paper.gflops, 1);
    const std::string paper_top1 = paper_number(e.paper.top1, 1);
    std::printf(markdown ? "| %s | %s | %lld | %s | %.2f | %s | %s | %s |\n"
                         : "%-22s %-10s %6lld %14s %9.2f %12s %9s %7s\n",
                e.name.c_str(), e.family.c_str(), static_cast<long long>(e.img_size),
                with_thousands(params).c_str(), flops / 1e9, paper_params.c_str(),
                paper_flops.c_str(), paper_top1.c_str());
  }
  return kExitOk;
}

}  // namespace vitrine::cli
