// Running a composed config as a Hydra job: the output directory per run (or per sweep
// job), the `.hydra/` record of what ran, and multirun sweeps expanded serially.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/compose.h"
#include "config/node.h"
#include "config/override.h"
#include "config/source.h"

namespace vitrine::config {

// What the command line says about composition (the Hydra flags).
struct JobRequest {
  std::vector<std::string> overrides;  // as typed
  std::string config_name = "config";
  std::vector<std::string> config_dirs;  // --config-dir, searched before the embedded tree
  std::string job_name = "vitrine";
  bool multirun = false;
};

struct JobContext {
  Node config;             // the job's config, fully resolved (no `hydra` node)
  std::string output_dir;  // created; holds .hydra/ and the job's files
  int job_num = 0;
};

using JobFunction = std::function<void(const JobContext&)>;
// Called with each job's context before anything is written to its output directory: may throw
// to refuse the directory; what it returns is kept until the job ends (a lock, say).
using ClaimFunction = std::function<std::shared_ptr<void>(const JobContext&)>;

// The search path for a request: its --config-dir entries, then the embedded tree.
ConfigRepository make_repository(const std::vector<std::string>& config_dirs);

// Parses every override; throws ConfigError naming the first malformed one.
std::vector<Override> parse_overrides(const std::vector<std::string>& texts);

// The concrete override lists of a sweep: the Cartesian product of every sweep override,
// the first override varying slowest (Hydra's BasicSweeper order).
std::vector<std::vector<Override>> expand_sweep(const std::vector<Override>& overrides);

// Composes, creates the output directory, writes `.hydra/{config,hydra,overrides}.yaml`
// and runs `job`; with `multirun`, once per sweep point under the sweep directory (and
// writes `multirun.yaml` there). Returns the output directories in order.
std::vector<std::string> run_jobs(const JobRequest& request, const JobFunction& job,
                                  const ClaimFunction& claim = {});

}  // namespace vitrine::config
