#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "config/job.h"
#include "config/resolve.h"
#include "core/text.h"
#include "train/run_directory.h"
#include "train/trainer.h"

namespace vitrine::cli {

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
  // before the job writes its .hydra record there.
  const auto claim = [](const config::JobContext& job) -> std::shared_ptr<void> {
    return train::claim_run_directory(job.config, job.output_dir);
  };
  config::run_jobs(
      request,
      [](const config::JobContext& job) {
        train::Trainer trainer(job.config, job.output_dir);
        const train::TrainOutcome outcome = trainer.run();
        char line[512];
        std::string final_metrics;
        for (const auto& [key, value] : outcome.final_eval) {
          std::snprintf(line, sizeof(line), "%s%s %.2f", final_metrics.empty() ? "" : ", ",
                        key.c_str(), value);
          final_metrics += line;
        }
        std::snprintf(line, sizeof(line), "final: %s", final_metrics.c_str());
        std::cout << line;
        if (outcome.best_metric) {
          std::snprintf(line, sizeof(line), " | best %s %.2f (epoch %lld)",
                        outcome.metric_name.c_str(), *outcome.best_metric,
                        static_cast<long long>(outcome.best_epoch + 1));
          std::cout << line;
        }
        std::snprintf(line, sizeof(line), " | %lld epochs in %.1f s, %.0f train img/s | %s",
                      static_cast<long long>(outcome.epochs_run), outcome.seconds,
                      outcome.train_images_per_second, job.output_dir.c_str());
        std::cout << line << std::endl;
      },
      claim);
  return kExitOk;
}

}  // namespace vitrine::cli
