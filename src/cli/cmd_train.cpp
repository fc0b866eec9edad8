#include <iostream>

#include "cli/commands.h"
#include "config/resolve.h"

namespace vitrine::cli {

int run_train(const HydraFlags& flags) {
  if (!flags.cfg.empty()) {
    print_config(flags, flags.cfg);
    return kExitOk;
  }
  // Compose and resolve now so config mistakes are reported (exit 2) even before the
  // trainer exists; the run directory is created only by a real run.
  std::vector<config::Override> overrides = config::parse_overrides(flags.request.overrides);
  const auto points = flags.request.multirun
                          ? config::expand_sweep(overrides)
                          : std::vector<std::vector<config::Override>>{overrides};
  config::ConfigRepository repo = config::make_repository(flags.request.config_dirs);
  for (const auto& point : points) {
    config::ComposeOptions options;
    options.config_name = flags.request.config_name;
    options.job_name = "train";
    config::require_complete(
        config::Resolver(config::compose(repo, point, options).config).resolve_all());
  }
  return run_not_built("train", "#5 (classification training)");
}

int run_not_built(const std::string& command, const std::string& issue) {
  std::cerr << "vitrine " << command << ": not built yet; it arrives with issue " << issue
            << std::endl;
  return kExitRuntimeFailure;
}

}  // namespace vitrine::cli
