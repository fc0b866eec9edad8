#include "bench/na_ops_bench.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "attention/ops/na_functional.h"
#include "attention/ops/na_reference.h"
#include "core/error.h"
#include "core/memory_tracker.h"

namespace vitrine::bench {
namespace {

using at::Tensor;

struct Case {
  std::string name;
  int64_t batch, heads, height, width, dim, kernel, dilation;
  int64_t tokens() const { return height * width; }
};

// NAT-like stages (NAT-Tiny widths at 224: 56x56/4 heads, 28x28/8, 14x14/16; D = 32) with
// DiNAT-style dilations beside the dense ones.
const std::vector<Case>& cases() {
  static const std::vector<Case> all{
      {"56x56 K7 d1", 8, 4, 56, 56, 32, 7, 1},  {"56x56 K7 d4", 8, 4, 56, 56, 32, 7, 4},
      {"28x28 K7 d1", 8, 8, 28, 28, 32, 7, 1},  {"28x28 K7 d2", 8, 8, 28, 28, 32, 7, 2},
      {"14x14 K7 d1", 8, 16, 14, 14, 32, 7, 1},
  };
  return all;
}

struct Timing {
  double ms = 0;
  double peak_mb = 0;
};

// Median wall time over `repeats` after warming up, and the peak tensor memory a run adds
// above what was live before it. Warm-up lasts at least `warmup` runs and half a second:
// on this machine the first dozen calls of an op run up to 2x slower (heap growth and
// first-touch page faults), so a fixed handful of runs measured a transient.
Timing measure(const std::function<void()>& fn, int warmup, int repeats) {
  const auto warm_start = std::chrono::steady_clock::now();
  for (int i = 0; i < warmup || (i < 200 && std::chrono::steady_clock::now() - warm_start <
                                                std::chrono::milliseconds(500));
       ++i)
    fn();
  std::vector<double> times;
  double peak = 0;
  for (int i = 0; i < repeats; ++i) {
    MemoryTracker::reset_peak();
    const size_t base = MemoryTracker::current_bytes();
    const auto start = std::chrono::steady_clock::now();
    fn();
    const auto stop = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
    peak = std::max(peak, static_cast<double>(MemoryTracker::peak_bytes() - base) / (1 << 20));
  }
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], peak};
}

double matmul_gflops(at::ScalarType dtype) {
  Tensor a = at::randn({1024, 1024}, dtype), b = at::randn({1024, 1024}, dtype);
  Tensor c = at::empty({1024, 1024}, dtype);
  Timing t = measure([&] { at::mm_out(c, a, b); }, 3, 11);
  return 2.0 * 1024 * 1024 * 1024 / (t.ms * 1e6);
}

struct Row {
  std::string problem, impl, pass;
  double ms, gflops, roofline_pct, peak_mb, speedup;  // speedup: baseline time / this time
};

}  // namespace

int run_ops_bench(const OpsBenchOptions& options) {
  at::ScalarType dtype;
  if (options.dtype == "float32")
    dtype = at::kFloat;
  else if (options.dtype == "float64")
    dtype = at::kDouble;
  else
    throw UsageError("bench ops: --dtype must be float32 or float64, got '" + options.dtype + "'");
  MemoryTracker::install();

  const double roofline = matmul_gflops(dtype);
  std::printf("vitrine bench ops: %s, %d threads, %u cores; 1024^3 matmul %.1f GFLOP/s\n",
              options.dtype.c_str(), at::get_num_threads(), std::thread::hardware_concurrency(),
              roofline);

  std::vector<Row> rows;
  for (const Case& c : cases()) {
    if (!options.only.empty() && c.name.find(options.only) == std::string::npos) continue;
    const std::vector<int64_t> shape{c.batch, c.heads, c.height, c.width, c.dim};
    const std::vector<int64_t> kernel{c.kernel, c.kernel}, dilation{c.dilation, c.dilation};
    const std::vector<bool> causal{false, false};
    attention::NaOptions na_options{kernel, dilation, causal};
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.dim));
    Tensor q = at::randn(shape, dtype), k = at::randn(shape, dtype), v = at::randn(shape, dtype);
    Tensor rpb = at::randn({c.heads, 2 * c.kernel - 1, 2 * c.kernel - 1}, dtype) * 0.02;
    Tensor grad_out = at::randn(shape, dtype);

    const double window = static_cast<double>(c.kernel * c.kernel);
    const double na_flops = 4.0 * c.batch * c.heads * c.tokens() * window * c.dim;
    const double full_flops = 4.0 * c.batch * c.heads * c.tokens() * c.tokens() * c.dim;

    using Forward =
        std::function<Tensor(const Tensor&, const Tensor&, const Tensor&, const Tensor&)>;
    struct Impl {
      std::string name;
      Forward forward;
      double flops;
      bool baseline;
    };
    std::vector<Impl> impls{
        {"vitrine fused",
         [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, const Tensor& b_) {
           return attention::na2d(q_, k_, v_, b_, na_options, scale);
         },
         na_flops, false},
        {"vitrine unfused",
         [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, const Tensor& b_) {
           Tensor attn = attention::na2d_qk(q_ * scale, k_, b_, na_options);
           return attention::na2d_av(at::softmax(attn, -1), v_, na_options);
         },
         na_flops, false},
    };
    attention::reference::NeighborTable table;  // outlives the lambdas that use it
    if (options.baselines) {
      table = attention::reference::neighbor_table({c.height, c.width}, kernel, dilation, causal);
      impls.push_back({"libtorch gather (baseline)",
                       [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, const Tensor& b_) {
                         return attention::reference::fused(q_, k_, v_, b_, table, scale);
                       },
                       na_flops, true});
      impls.push_back({"full attention (baseline)",
                       [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, const Tensor&) {
                         auto flat = [&](const Tensor& t) {
                           return t.reshape({c.batch, c.heads, c.tokens(), c.dim});
                         };
                         Tensor logits = at::matmul(flat(q_) * scale, flat(k_).transpose(-1, -2));
                         return at::matmul(at::softmax(logits, -1), flat(v_)).view(shape);
                       },
                       full_flops, true});
    }

    double fused_fwd_ms = 0, fused_fb_ms = 0;
    for (const Impl& impl : impls) {
      if (!options.impl.empty() && impl.name.find(options.impl) == std::string::npos) continue;
      for (const char* pass : {"fwd", "fwd+bwd"}) {
        if (options.pass != "both" && options.pass != pass) continue;
        const bool backward = std::string(pass) == "fwd+bwd";
        Timing t;
        if (!backward) {
          at::NoGradGuard no_grad;
          t = measure([&] { impl.forward(q, k, v, rpb); }, options.warmup, options.repeats);
        } else {
          Tensor qg = q.clone().requires_grad_(true), kg = k.clone().requires_grad_(true),
                 vg = v.clone().requires_grad_(true), bg = rpb.clone().requires_grad_(true);
          t = measure(
              [&] {
                Tensor out = impl.forward(qg, kg, vg, bg);
                // allow_unused: full attention has no bias.
                torch::autograd::grad({out}, {qg, kg, vg, bg}, {grad_out}, c10::nullopt, false,
                                      true);
              },
              options.warmup, options.repeats);
        }
        // Nominal FLOPs: backward counted as twice the forward.
        const double flops = impl.flops * (backward ? 3.0 : 1.0);
        const double gflops = flops / (t.ms * 1e6);
        if (impl.name == "vitrine fused") (backward ? fused_fb_ms : fused_fwd_ms) = t.ms;
        const double ours = backward ? fused_fb_ms : fused_fwd_ms;
        rows.push_back({c.name, impl.name, pass, t.ms, gflops, 100.0 * gflops / roofline, t.peak_mb,
                        t.ms / ours});
        std::printf("  %-12s %-27s %-8s %9.2f ms %8.1f GFLOP/s %5.1f%% roof %8.1f MB  x%.2f\n",
                    c.name.c_str(), impl.name.c_str(), pass, t.ms, gflops,
                    100.0 * gflops / roofline, t.peak_mb, t.ms / ours);
        std::fflush(stdout);
      }
    }
  }

  std::ostringstream md;
  md << "| problem | implementation | pass | ms | GFLOP/s | % of matmul | peak MB | time / vitrine "
        "fused |\n"
     << "|---|---|---|---:|---:|---:|---:|---:|\n";
  char line[512];
  for (const Row& r : rows) {
    std::snprintf(line, sizeof(line), "| %s | %s | %s | %.2f | %.1f | %.1f%% | %.1f | %.2f |\n",
                  r.problem.c_str(), r.impl.c_str(), r.pass.c_str(), r.ms, r.gflops, r.roofline_pct,
                  r.peak_mb, r.speedup);
    md << line;
  }
  std::printf("\n%s", md.str().c_str());
  if (!options.results_file.empty()) {
    std::ofstream out(options.results_file, std::ios::app);
    if (!out) throw std::runtime_error("cannot write '" + options.results_file + "'");
    out << "Matmul roofline (1024^3, " << options.dtype << "): " << roofline << " GFLOP/s, "
        << at::get_num_threads() << " threads\n\n"
        << md.str() << "\n";
  }
  return kExitOk;
}

}  // namespace vitrine::bench
