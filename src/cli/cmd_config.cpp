#include "cli/commands.h"

namespace vitrine::cli {

// `vitrine config [overrides]`: the composed job config, as `--cfg job` would print it.
int run_config(const HydraFlags& flags) {
  print_config(flags, flags.cfg.empty() ? "job" : flags.cfg);
  return kExitOk;
}

}  // namespace vitrine::cli
