#include "bench/na_ops_bench.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "attention/ops/na_functional.h"
#include "attention/ops/na_reference.h"
#include "core/error.h"
#include "core/memory_tracker.h"
#include "core/scoped_env.h"

namespace vitrine::bench {
namespace {

using at::Tensor;

struct Case {
  std::string name;
  int64_t batch, heads;
  std::vector<int64_t> lengths;
  int64_t dim, kernel, dilation;
  int64_t tokens() const {
    int64_t t = 1;
    for (int64_t l : lengths) t *= l;
    return t;
  }
  int64_t window() const {
    int64_t w = 1;
    for (size_t a = 0; a < lengths.size(); ++a) w *= kernel;
    return w;
  }
};

// NAT-like stages (NAT-Tiny widths at 224: 56x56/4 heads, 28x28/8, 14x14/16; D = 32) with
// DiNAT-style dilations beside the dense ones.
const std::vector<Case>& cpu_cases() {
  static const std::vector<Case> all{
      {"56x56 K7 d1", 8, 4, {56, 56}, 32, 7, 1},  {"56x56 K7 d4", 8, 4, {56, 56}, 32, 7, 4},
      {"28x28 K7 d1", 8, 8, {28, 28}, 32, 7, 1},  {"28x28 K7 d2", 8, 8, {28, 28}, 32, 7, 2},
      {"14x14 K7 d1", 8, 16, {14, 14}, 32, 7, 1},
  };
  return all;
}

// NATTEN's problem set for GPUs: batch 128, 16 heads, head dim 32, K = 7 (3-D: K = 3), the
// rows of the "Fast CUDA neighborhood attention" issues.
const std::vector<Case>& cuda_cases() {
  static const std::vector<Case> all{
      {"14x14 K7 d1", 128, 16, {14, 14}, 32, 7, 1},
      {"28x28 K7 d1", 128, 16, {28, 28}, 32, 7, 1},
      {"28x28 K7 d2", 128, 16, {28, 28}, 32, 7, 2},
      {"56x56 K7 d1", 128, 16, {56, 56}, 32, 7, 1},
      {"56x56 K7 d4", 128, 16, {56, 56}, 32, 7, 4},
      {"56x56 K7 d8", 128, 16, {56, 56}, 32, 7, 8},
      {"1-D 4096 K7", 128, 16, {4096}, 32, 7, 1},
      {"3-D 16x32x32 K3", 128, 16, {16, 32, 32}, 32, 3, 1},
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
Timing measure(
    const std::function<void()>& fn, int warmup, int repeats,
    const std::function<void()>& sync = [] {}) {
  const auto warm_start = std::chrono::steady_clock::now();
  for (int i = 0; i < warmup || (i < 200 && std::chrono::steady_clock::now() - warm_start <
                                                std::chrono::milliseconds(500));
       ++i)
    fn();
  sync();
  std::vector<double> times;
  double peak = 0;
  for (int i = 0; i < repeats; ++i) {
    MemoryTracker::reset_peak();
    const size_t base = MemoryTracker::current_bytes();
    const auto start = std::chrono::steady_clock::now();
    fn();
    sync();
    const auto stop = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
    peak = std::max(peak, static_cast<double>(MemoryTracker::peak_bytes() - base) / (1 << 20));
  }
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], peak};
}

// A square matmul (1024^3 on the CPU, 8192^3 on a GPU) in the benchmark's dtype: the roofline.
double matmul_gflops(const at::TensorOptions& options, const std::function<void()>& sync) {
  const int64_t n = options.device().is_cuda() ? 8192 : 1024;
  Tensor a = at::randn({n, n}, options), b = at::randn({n, n}, options);
  Tensor c = at::empty({n, n}, options);
  Timing t = measure([&] { at::mm_out(c, a, b); }, 3, 11, sync);
  return 2.0 * n * n * n / (t.ms * 1e6);
}

// Device memory bandwidth of this run: a 1 GiB device-to-device copy (read + write).
double copy_gb_per_s(const at::TensorOptions& options, const std::function<void()>& sync) {
  Tensor a = at::empty({int64_t{1} << 30}, options.dtype(at::kByte)), b = at::empty_like(a);
  Timing t = measure([&] { b.copy_(a); }, 3, 11, sync);
  return 2.0 * static_cast<double>(a.numel()) / (t.ms * 1e6);
}

// Full self-attention: fused SDPA where libtorch has it (2.x), else matmul-softmax-matmul.
Tensor full_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
#if TORCH_VERSION_MAJOR >= 2
  if (std::abs(scale - 1.0 / std::sqrt(static_cast<double>(q.size(-1)))) < 1e-12)
    return at::scaled_dot_product_attention(q, k, v);
#endif
  Tensor logits = at::matmul(q * scale, k.transpose(-1, -2));
  return at::matmul(at::softmax(logits, -1), v);
}

struct Row {
  std::string problem, impl, pass;
  double ms, gflops, roofline_pct, floor_pct, peak_mb, speedup;  // speedup: this time / fused
};

}  // namespace

int run_ops_bench(const OpsBenchOptions& options) {
  const bool cuda = options.device == "cuda";
  if (!cuda && options.device != "cpu")
    throw UsageError("bench ops: --device must be cpu or cuda, got '" + options.device + "'");
  if (cuda && !torch::cuda::is_available())
    throw UsageError(
        "bench ops --device cuda: no CUDA device is visible (or this libtorch was built without "
        "CUDA; see README.md, 'Building with CUDA')");
  at::ScalarType dtype;
  if (options.dtype == "float32")
    dtype = at::kFloat;
  else if (options.dtype == "float64")
    dtype = at::kDouble;
  else if (cuda && options.dtype == "float16")
    dtype = at::kHalf;
  else if (cuda && options.dtype == "bfloat16")
    dtype = at::kBFloat16;
  else
    throw UsageError(
        "bench ops: --dtype must be float32 or float64" +
        std::string(cuda ? ", float16 or bfloat16" : " (float16/bfloat16 with --device cuda)") +
        ", got '" + options.dtype + "'");
  MemoryTracker::install();
  const at::TensorOptions topt = at::TensorOptions().dtype(dtype).device(
      cuda ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU));
  const std::function<void()> sync = [cuda] {
    if (cuda) torch::cuda::synchronize();
  };

  const double roofline = matmul_gflops(topt, sync);
  // The memory floor of a row: its tensors (q, k, v, out; backward adds dO read and dq, dk, dv,
  // and reads q, k, v, out again) moved once at this run's copy rate. GPU only.
  const double bandwidth = cuda ? copy_gb_per_s(topt, sync) : 0;
  if (cuda)
    std::printf("vitrine bench ops: cuda, %s; %s matmul %.1f TFLOP/s; copy %.0f GB/s\n",
                options.dtype.c_str(), "8192^3", roofline / 1000, bandwidth);
  else
    std::printf("vitrine bench ops: %s, %d threads, %u cores; 1024^3 matmul %.1f GFLOP/s\n",
                options.dtype.c_str(), at::get_num_threads(), std::thread::hardware_concurrency(),
                roofline);

  std::fflush(stdout);  // a run stopped by a timeout still shows what it measured
  std::vector<Row> rows;
  for (const Case& c : cuda ? cuda_cases() : cpu_cases()) {
    if (!options.only.empty() && c.name.find(options.only) == std::string::npos) continue;
    const size_t axes = c.lengths.size();
    std::vector<int64_t> shape{c.batch, c.heads};
    shape.insert(shape.end(), c.lengths.begin(), c.lengths.end());
    shape.push_back(c.dim);
    const std::vector<int64_t> kernel(axes, c.kernel), dilation(axes, c.dilation);
    const std::vector<bool> causal(axes, false);
    attention::NaOptions na_options{kernel, dilation, causal};
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.dim));
    Tensor q = at::randn(shape, topt), k = at::randn(shape, topt), v = at::randn(shape, topt);
    std::vector<int64_t> rpb_shape{c.heads};
    for (size_t a = 0; a < axes; ++a) rpb_shape.push_back(2 * c.kernel - 1);
    Tensor rpb = at::randn(rpb_shape, topt) * 0.02;
    Tensor grad_out = at::randn(shape, topt);

    const double na_flops = 4.0 * c.batch * c.heads * c.tokens() * c.window() * c.dim;
    const double full_flops = 4.0 * c.batch * c.heads * c.tokens() * c.tokens() * c.dim;

    using Forward =
        std::function<Tensor(const Tensor&, const Tensor&, const Tensor&, const Tensor&)>;
    struct Impl {
      std::string name;
      Forward forward;
      double flops;
      bool baseline;
      std::string kernels = "";  // VITRINE_NA_CUDA_FORWARD and _BACKWARD while it runs
    };
    // On the GPU the fused op runs the tiled kernels (head dim 32 here) and the unfused
    // pair the naive ones.
    std::vector<Impl> impls{
        {"vitrine fused",
         [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, const Tensor& b_) {
           return attention::neighborhood_attention(q_, k_, v_, b_, na_options, scale);
         },
         na_flops, false},
        {cuda ? "vitrine naive (unfused)" : "vitrine unfused",
         [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, const Tensor& b_) {
           Tensor attn = attention::na_qk(q_ * scale, k_, b_, na_options);
           return attention::na_av(at::softmax(attn, -1), v_, na_options);
         },
         na_flops, false},
    };
    // The tensor-core forward and backward (issues 21, 22), where the op layer takes them:
    // float16/bfloat16.
    if (cuda && (dtype == at::kHalf || dtype == at::kBFloat16))
      impls.insert(impls.begin() + 1,
                   {"vitrine fused, fna",
                    [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, const Tensor& b_) {
                      return attention::neighborhood_attention(q_, k_, v_, b_, na_options, scale);
                    },
                    na_flops, false, "fna"});
    attention::reference::NeighborTable table;  // outlives the lambdas that use it
    if (options.baselines) {
      // The gather reference materialises every window (tens of GB at the GPU sizes).
      if (!cuda) {
        table = attention::reference::neighbor_table(c.lengths, kernel, dilation, causal);
        impls.push_back(
            {"libtorch gather (baseline)",
             [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, const Tensor& b_) {
               return attention::reference::fused(q_, k_, v_, b_, table, scale);
             },
             na_flops, true});
      }
      impls.push_back({TORCH_VERSION_MAJOR >= 2 && cuda ? "full attention SDPA (baseline)"
                                                        : "full attention (baseline)",
                       [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, const Tensor&) {
                         auto flat = [&](const Tensor& t) {
                           return t.reshape({c.batch, c.heads, c.tokens(), c.dim});
                         };
                         return full_attention(flat(q_), flat(k_), flat(v_), scale).view(shape);
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
        const ScopedEnv forward_choice("VITRINE_NA_CUDA_FORWARD", impl.kernels);
        const ScopedEnv backward_choice("VITRINE_NA_CUDA_BACKWARD", impl.kernels);
        try {
          if (!backward) {
            at::NoGradGuard no_grad;
            t = measure([&] { impl.forward(q, k, v, rpb); }, options.warmup, options.repeats, sync);
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
                options.warmup, options.repeats, sync);
          }
        } catch (const c10::Error& e) {
          // Full attention at 56x56 x 2048 heads needs ~80 GB of logits without SDPA.
          const std::string what = e.what();
          std::printf("  %-16s %-30s %-8s skipped: %s\n", c.name.c_str(), impl.name.c_str(), pass,
                      what.substr(0, what.find('\n')).c_str());
          continue;
        }
        // Nominal FLOPs: backward counted as twice the forward.
        const double flops = impl.flops * (backward ? 3.0 : 1.0);
        const double gflops = flops / (t.ms * 1e6);
        if (impl.name == "vitrine fused") (backward ? fused_fb_ms : fused_fwd_ms) = t.ms;
        const double ours = backward ? fused_fb_ms : fused_fwd_ms;
        if (cuda) t.peak_mb = 0;  // the tracker sees the CPU allocator only
        const double tensors = backward ? 12.0 : 4.0;
        const double floor_ms =
            cuda ? tensors * static_cast<double>(q.numel()) * q.element_size() / (bandwidth * 1e6)
                 : 0;
        rows.push_back({c.name, impl.name, pass, t.ms, gflops, 100.0 * gflops / roofline,
                        100.0 * floor_ms / t.ms, t.peak_mb, ours > 0 ? t.ms / ours : 0});
        char floor_share[32] = "";  // the memory floor is a GPU column
        if (cuda)
          std::snprintf(floor_share, sizeof(floor_share), " %5.1f%% floor",
                        100.0 * floor_ms / t.ms);
        std::printf("  %-16s %-30s %-8s %9.2f ms %9.2f %s %5.1f%% roof%s %8.1f MB  x%.2f\n",
                    c.name.c_str(), impl.name.c_str(), pass, t.ms, cuda ? gflops / 1000 : gflops,
                    cuda ? "TFLOP/s" : "GFLOP/s", 100.0 * gflops / roofline, floor_share, t.peak_mb,
                    ours > 0 ? t.ms / ours : 0);
        std::fflush(stdout);
      }
    }
  }

  std::ostringstream md;
  // GPUs are reported in TFLOP/s and without the (CPU-only) memory column's meaning.
  const double unit = cuda ? 1000.0 : 1.0;
  md << "| problem | implementation | pass | ms | " << (cuda ? "TFLOP/s" : "GFLOP/s")
     << " | % of matmul |" << (cuda ? " % of memory floor |" : "")
     << " peak MB | time / vitrine fused |\n"
     << "|---|---|---|---:|---:|---:|" << (cuda ? "---:|" : "") << "---:|---:|\n";
  char line[512];
  for (const Row& r : rows) {
    char floor[32] = "";
    if (cuda) std::snprintf(floor, sizeof(floor), " %.1f%% |", r.floor_pct);
    std::snprintf(line, sizeof(line), "| %s | %s | %s | %.2f | %.*f | %.1f%% |%s %.1f | %.2f |\n",
                  r.problem.c_str(), r.impl.c_str(), r.pass.c_str(), r.ms, cuda ? 2 : 1,
                  r.gflops / unit, r.roofline_pct, floor, r.peak_mb, r.speedup);
    md << line;
  }
  std::printf("\n%s", md.str().c_str());
  if (!options.results_file.empty()) {
    std::ofstream out(options.results_file, std::ios::app);
    if (!out) throw std::runtime_error("cannot write '" + options.results_file + "'");
    out << "Matmul roofline (" << (cuda ? "8192^3 on " : "1024^3, ") << options.device << ", "
        << options.dtype << "): " << roofline << " GFLOP/s, " << at::get_num_threads()
        << " CPU threads";
    if (cuda) out << "; copy rate " << bandwidth << " GB/s (the memory floor's)";
    out << "\n\n" << md.str() << "\n";
  }
  return kExitOk;
}

}  // namespace vitrine::bench
