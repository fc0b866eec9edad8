// The `vitrine` subcommands. Each returns the process exit code; errors are thrown
// (ConfigError/UsageError -> 2, anything else -> 1) and reported by main.
#pragma once

#include <string>

#include "cli/hydra_flags.h"
#include "core/error.h"

namespace vitrine::cli {

int run_config(const HydraFlags& flags);
int run_train(const HydraFlags& flags);

struct EvalOptions {
  std::string checkpoint;    // also accepted as a checkpoint=PATH argument
  bool use_ema = false;      // evaluate the EMA weights (timm's --use-ema)
  std::string results_file;  // .json or .csv
};
int run_eval(const HydraFlags& flags, const EvalOptions& options);
int run_models(const std::string& filter);
// For subcommands whose issue has not landed yet: says so plainly and fails.
int run_not_built(const std::string& command, const std::string& issue);

}  // namespace vitrine::cli
