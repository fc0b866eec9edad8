// `vitrine bench ops`: neighborhood-attention timings on NAT-like problems, against two
// baselines measured in the same run — NA written with stock libtorch ops (gather +
// matmul, the reference) and full self-attention (matmul-softmax-matmul) — with achieved
// GFLOP/s, the ratio to a 1024^3 matmul in the same run (our roofline) and peak memory.
#pragma once

#include <string>

namespace vitrine::bench {

struct OpsBenchOptions {
  std::string device = "cpu";     // cpu | cuda
  std::string dtype = "float32";  // float32 | float64 (| float16 | bfloat16 on cuda)
  int warmup = 1;
  int repeats = 5;
  std::string only;           // run cases whose name contains this
  bool baselines = true;      // include the gather and full-attention baselines
  std::string pass = "both";  // fwd | fwd+bwd | both
  std::string impl;           // run implementations whose name contains this
  std::string results_file;   // markdown table appended here when set
};

// Prints the table; returns the process exit code.
int run_ops_bench(const OpsBenchOptions& options);

}  // namespace vitrine::bench
