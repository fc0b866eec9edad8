// The Hydra-style command line shared by `train`, `eval` and `config`:
//   overrides...            key=value, +key=value, ++key=value, ~key, group=option
//   --cfg job|hydra|all     print the composed config and exit
//   --resolve               resolve interpolations when printing
//   -p/--package PKG        print only that subtree
//   -m/--multirun           sweep comma lists and range()
//   --config-dir DIR        a user config tree searched before the built-in one
//   --config-name NAME      primary config (default: config)
#pragma once

#include <string>

#include "config/job.h"

namespace CLI {
class App;
}

namespace vitrine::cli {

struct HydraFlags {
  config::JobRequest request;
  std::string cfg;  // "", "job", "hydra" or "all"
  bool resolve = false;
  std::string package;
};

void add_hydra_flags(CLI::App& command, HydraFlags& flags);

// The config `flags`' request composes to, unresolved (a sweep's first point, as Hydra's --cfg
// shows it).
config::Node compose_request(const HydraFlags& flags);

// Prints the composed config as `--cfg` asks (`which` = job|hydra|all) to stdout.
void print_config(const HydraFlags& flags, const std::string& which);

}  // namespace vitrine::cli
