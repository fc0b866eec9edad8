#include "bench/ops_bench_options.h"

#include <CLI/CLI.hpp>

namespace vitrine::bench {

void add_bench_ops_options(CLI::App& command, OpsBenchOptions& options) {
  command
      .add_option("--device", options.device,
                  "cpu, or cuda (NATTEN's GPU problem set: batch 128, 16 heads)")
      ->capture_default_str();
  command.add_option("--dtype", options.dtype, "float32 or float64; float16, bfloat16 on cuda")
      ->capture_default_str();
  command.add_option("--warmup", options.warmup, "Untimed runs per measurement")
      ->capture_default_str();
  command.add_option("--repeats", options.repeats, "Timed runs (median reported)")
      ->capture_default_str();
  command.add_option("--only", options.only, "Run problems whose name contains this");
  command.add_flag("!--no-baselines", options.baselines, "Skip the baselines");
  command.add_option("--pass", options.pass, "fwd, fwd+bwd or both")->capture_default_str();
  command.add_option("--impl", options.impl, "Run implementations whose name contains this");
  command.add_option("--results-file", options.results_file,
                     "Append the markdown table to this file");
}

}  // namespace vitrine::bench
