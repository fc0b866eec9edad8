// Hydra-style composition: a primary config with a defaults list over config groups,
// `_self_` ordering, `@package` directives, `override /group: option` in nested configs,
// then command-line overrides (group selections first, value overrides last, struct mode).
#pragma once

#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "config/node.h"
#include "config/override.h"
#include "config/source.h"

namespace vitrine::config {

struct Composition {
  // The composed tree, interpolations unresolved. Holds a `hydra` node with the run
  // settings (run/sweep dirs, job name/num, runtime choices, overrides), as Hydra does.
  Node config;
  // Group -> selected option in the order they were composed ("null" when deselected).
  std::vector<std::pair<std::string, std::string>> choices;
};

struct ComposeOptions {
  std::string config_name = "config";
  std::string job_name = "vitrine";
  int job_num = 0;
  bool multirun = false;
  // Packages of a saved run's config (vitrine eval's checkpoint: model, data, task) that take
  // the place of what the defaults list composed there, unless the command line selects an
  // option for that group (or an experiment); value overrides then apply on top of them.
  std::vector<std::pair<std::string, Node>> saved_packages;
};

// Composes `options.config_name` with `overrides`. Throws ConfigError with a one-line,
// Hydra-like message on any problem (unknown key, unknown option, bad package, cycle...).
Composition compose(const ConfigRepository& repo, const std::vector<Override>& overrides,
                    const ComposeOptions& options = {});

// The composed tree without the `hydra` node: what the job sees.
Node job_config(const Node& composed);

}  // namespace vitrine::config
