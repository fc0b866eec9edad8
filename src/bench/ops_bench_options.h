// The options of `vitrine bench ops`, shared by the `vitrine` binary and the standalone
// `vitrine-bench-ops` that ops-only builds (a GPU box without OpenCV or yaml-cpp) produce.
#pragma once

#include "bench/na_ops_bench.h"

namespace CLI {
class App;
}

namespace vitrine::bench {

// Adds the options to `command` (a `bench ops` subcommand, or a standalone program's app).
void add_bench_ops_options(CLI::App& command, OpsBenchOptions& options);

}  // namespace vitrine::bench
