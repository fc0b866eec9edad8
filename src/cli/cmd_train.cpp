#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "config/job.h"
#include "config/resolve.h"
#include "core/text.h"
#include "data/dataset.h"
#include "train/run_directory.h"
#include "train/trainer.h"

namespace vitrine::cli {
namespace {

// A metric as the final line shows it: scores on a 0-1 scale (box AP, mIoU, SSIM) with four
// decimals, percentages and losses with two.
std::string metric_text(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), std::fabs(value) <= 1.0 ? "%.4f" : "%.2f", value);
  return text;
}

// "final: loss 0.3277, top1 90.97, top5 99.74 | best top1 91.03 (epoch 10) | 12 epochs in ..."
std::string final_line(const train::TrainOutcome& outcome, const std::string& dir) {
  std::string line = "final: ";
  if (outcome.epochs_run == 0) {
    line += "nothing to train: " + dir + " already holds every epoch";
  } else {
    for (size_t i = 0; i < outcome.final_eval.size(); ++i)
      line += (i ? ", " : "") + outcome.final_eval[i].first + " " +
              metric_text(outcome.final_eval[i].second);
  }
  if (outcome.best_metric)
    line += " | best " + outcome.metric_name + " " + metric_text(*outcome.best_metric) +
            " (epoch " + std::to_string(outcome.best_epoch + 1) + ")";
  char tail[128];
  std::snprintf(tail, sizeof(tail), " | %lld epochs in %.1f s, %.0f train img/s | ",
                static_cast<long long>(outcome.epochs_run), outcome.seconds,
                outcome.train_images_per_second);
  return line + tail + dir;
}

}  // namespace

int run_train(const HydraFlags& flags) {
  if (!flags.cfg.empty()) {
    print_config(flags, flags.cfg);
    return kExitOk;
  }
  config::JobRequest request = flags.request;
  request.job_name = "train";
  // In a distributed run only rank 0 reports; the others keep stderr (warnings, errors).
  if (const char* rank = std::getenv("RANK"); rank && std::atoi(rank) > 0)
    if (!std::freopen("/dev/null", "w", stdout)) std::cout.setstate(std::ios::failbit);
  // The run directory is claimed (refused if it holds another run, locked while training)
  // before the job writes its .hydra record there. A run that fails on its configuration
  // before training leaves no directory behind when it made that directory itself.
  auto made_here = std::make_shared<bool>(false);
  const auto claim = [made_here](const config::JobContext& job) -> std::shared_ptr<void> {
    *made_here = !std::filesystem::exists(job.output_dir);
    return train::claim_run_directory(job.config, job.output_dir);
  };
  const auto forget_if_empty = [made_here](const std::string& dir) {
    if (*made_here && !train::holds_run(dir)) std::filesystem::remove_all(dir);
  };
  config::run_jobs(
      request,
      [&](const config::JobContext& job) {
        try {
          train::Trainer trainer(job.config, job.output_dir);
          std::cout << final_line(trainer.run(), job.output_dir) << std::endl;
        } catch (const ConfigError&) {
          forget_if_empty(job.output_dir);
          throw;
        } catch (const data::MissingDataError&) {
          forget_if_empty(job.output_dir);
          throw;
        }
      },
      claim);
  return kExitOk;
}

}  // namespace vitrine::cli
