// `vitrine bench loader [overrides]`: the training data loader alone — decoding, augmentation,
// collation on data.workers threads — timed over a number of batches, so that one can tell
// whether it keeps a GPU fed (compare with `vitrine bench model`'s training samples/s).
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/results_file.h"
#include "config/compose.h"
#include "config/resolve.h"
#include "config/view.h"
#include "core/error.h"
#include "data/loader_factory.h"

namespace vitrine::cli {

int run_bench_loader(const HydraFlags& flags, const LoaderBenchOptions& o) {
  if (!flags.cfg.empty()) {
    print_config(flags, flags.cfg);
    return kExitOk;
  }
  if (o.batches < 1 || o.warmup < 0)
    throw UsageError("--batches must be positive and --warmup non-negative");
  if (flags.request.multirun)
    throw UsageError("bench loader times one configuration: drop -m/--multirun");
  // The job's config as `vitrine train` composes it (no run directory).
  const config::Node job =
      config::job_config(config::Resolver(compose_request(flags)).resolve_all());
  const config::ConfigView root(job, "");
  const config::ConfigView data = root.child("data");
  auto loader =
      data::make_loader(data, /*train=*/true, static_cast<uint64_t>(root.get_int("seed")));

  const int64_t per_epoch = loader->batches_per_epoch();
  if (per_epoch < 1) throw ConfigError("the training set holds no full batch of data.batch_size");
  std::printf(
      "vitrine bench loader: %s, batch %lld, %lld workers, %u cores; %lld batches an epoch\n",
      data.get_string("name", data.get_string("format")).c_str(),
      static_cast<long long>(data.get_int("batch_size")),
      static_cast<long long>(data.get_int("workers")), std::thread::hardware_concurrency(),
      static_cast<long long>(per_epoch));
  // Batches come epoch after epoch (a small fixture may hold fewer than asked for).
  int64_t epoch = 0, left_in_epoch = 0;
  data::Batch batch;
  auto next = [&]() {
    if (left_in_epoch == 0) {
      loader->start_epoch(epoch++);
      left_in_epoch = per_epoch;
    }
    if (!loader->next(batch)) throw std::runtime_error("the loader ended an epoch early");
    --left_in_epoch;
    return batch.images.size(0);
  };
  for (int i = 0; i < o.warmup; ++i) next();
  int64_t images = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < o.batches; ++i) images += next();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double rate = static_cast<double>(images) / seconds;
  std::vector<int64_t> shape(batch.images.sizes().begin(), batch.images.sizes().end());
  std::string shape_text;
  for (int64_t d : shape) shape_text += (shape_text.empty() ? "" : "x") + std::to_string(d);
  std::printf("%lld batches of %s in %.2f s: %.1f images/s, %.1f ms a batch\n",
              static_cast<long long>(o.batches), shape_text.c_str(), seconds, rate,
              1e3 * seconds / static_cast<double>(o.batches));
  if (!o.results_file.empty())
    write_results(
        o.results_file,
        {{{"data", data.get_string("name", data.get_string("format")), false},
          {"batch_shape", shape_text, false},
          {"workers", std::to_string(data.get_int("workers")), true},
          {"batches", std::to_string(o.batches), true},
          {"images_per_sec", format_number(rate, 1), true},
          {"batch_ms", format_number(1e3 * seconds / static_cast<double>(o.batches), 2), true}}},
        false);
  return kExitOk;
}

}  // namespace vitrine::cli
