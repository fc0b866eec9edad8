#include "cli/hydra_flags.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "config/path.h"
#include "config/resolve.h"
#include "config/yaml_io.h"
#include "core/error.h"

namespace vitrine::cli {

void add_hydra_flags(CLI::App& command, HydraFlags& flags) {
  command.add_option("overrides", flags.request.overrides,
                     "Hydra overrides: key=value, +key=value, ++key=value, ~key, group=option, "
                     "+experiment=NAME");
  command.add_option("--cfg", flags.cfg, "Print the composed config and exit")
      ->check(CLI::IsMember({"job", "hydra", "all"}));
  command.add_flag("--resolve", flags.resolve, "Resolve interpolations when printing");
  command.add_option("-p,--package", flags.package, "Print only this package (dotted path)");
  command.add_flag("-m,--multirun", flags.request.multirun,
                   "Run one job per point of the sweeps (a,b,c / range(a,b,step))");
  command
      .add_option("--config-dir", flags.request.config_dirs,
                  "Directory with a config tree searched before the built-in configs "
                  "(repeatable)")
      ->allow_extra_args(false)
      ->check(CLI::ExistingDirectory);
  command.add_option("--config-name", flags.request.config_name, "Primary config name")
      ->capture_default_str();
}

config::Node compose_request(const HydraFlags& flags) {
  const config::JobRequest& request = flags.request;
  std::vector<config::Override> overrides = config::parse_overrides(request.overrides);
  if (request.multirun) overrides = config::expand_sweep(overrides).front();
  config::ConfigRepository repo = config::make_repository(request.config_dirs);
  config::ComposeOptions options;
  options.config_name = request.config_name;
  options.job_name = request.job_name;
  return config::compose(repo, overrides, options).config;
}

void print_config(const HydraFlags& flags, const std::string& which) {
  // Printing composes a single run; a sweep prints its first point, as Hydra's --cfg does.
  config::Node tree = compose_request(flags);
  if (flags.resolve) tree = config::Resolver(tree).resolve_all();

  config::Node shown;
  if (which == "job") {
    shown = config::job_config(tree);
  } else if (which == "hydra") {
    shown = config::Node::dict();
    shown.set("hydra", *tree.find("hydra"));
  } else {
    shown = tree;
  }
  if (!flags.package.empty()) {
    const config::Node* sub = config::find_path(shown, config::split_path(flags.package));
    if (!sub) throw ConfigError("Package '" + flags.package + "' is not in the composed config");
    config::Node wrapped = config::Node::dict();
    config::set_path(wrapped, config::split_path(flags.package), *sub);
    shown = wrapped;
  }
  std::cout << config::dump_yaml(shown);
}

}  // namespace vitrine::cli
