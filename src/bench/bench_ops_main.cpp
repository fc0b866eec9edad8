// `vitrine-bench-ops`: `vitrine bench ops` as a program of its own, built by ops-only
// configurations (-DVITRINE_OPS_ONLY=ON) where the full CLI's libraries are missing.
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "bench/na_ops_bench.h"
#include "bench/ops_bench_options.h"
#include "core/runtime.h"

int main(int argc, char** argv) {
  CLI::App app{"Neighborhood-attention ops vs stock-libtorch and full-attention baselines",
               "vitrine-bench-ops"};
  int threads = 0;
  app.add_option("--threads", threads, "Intra-op threads (0 = every core)")->capture_default_str();
  vitrine::bench::OpsBenchOptions options;
  vitrine::bench::add_bench_ops_options(app, options);
  CLI11_PARSE(app, argc, argv);
  try {
    vitrine::configure_runtime(threads);
    return vitrine::bench::run_ops_bench(options);
  } catch (const c10::Error& e) {
    std::cerr << "vitrine-bench-ops: " << e.what_without_backtrace() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "vitrine-bench-ops: " << e.what() << "\n";
  }
  return 1;
}
