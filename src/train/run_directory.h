// The run directory a training run owns. Hydra gives every run a fresh directory, so reusing
// one must be the user's explicit choice:
//  * a directory that already holds a run (checkpoints or logs) is refused, with one line
//    naming both ways on: trainer.resume=auto continues it, trainer.replace_run=true moves it
//    aside to <dir>.replaced-<time> and starts fresh;
//  * the run holds a lock on the directory while it lives, so a second process writing into it
//    fails at once, naming the holder's PID;
//  * temporary files that killed writers left behind are removed.
#pragma once

#include <memory>
#include <string>

#include "config/node.h"

namespace vitrine::train {

struct RunDirectoryPolicy {
  bool resume = false;       // trainer.resume=auto: continuing the run there is the point
  bool replace_run = false;  // trainer.replace_run: move an earlier run aside
};

class RunDirectoryClaim {
 public:
  // Claims `dir` (created if missing). Throws ConfigError (exit 2) for a directory that holds
  // a run the policy does not allow, or that another live process has claimed.
  RunDirectoryClaim(const std::string& dir, const RunDirectoryPolicy& policy);
  ~RunDirectoryClaim();
  RunDirectoryClaim(const RunDirectoryClaim&) = delete;
  RunDirectoryClaim& operator=(const RunDirectoryClaim&) = delete;

  // Where an earlier run was moved (replace_run), or empty.
  const std::string& moved_to() const { return moved_to_; }

 private:
  int lock_fd_ = -1;
  std::string moved_to_;
};

// The claim `vitrine train` makes on a job's output directory before writing anything there:
// the policy from trainer.resume / trainer.replace_run; none for ranks above 0 of a distributed
// run (rank 0 owns the directory). `run_config` is the job's resolved config.
std::shared_ptr<RunDirectoryClaim> claim_run_directory(const config::Node& run_config,
                                                       const std::string& dir);

// True when `dir` holds files of a training run: checkpoints (last.pt, best.pt,
// checkpoint-<epoch>.pt) or its logs (metrics.jsonl, summary.csv).
bool holds_run(const std::string& dir);

}  // namespace vitrine::train
