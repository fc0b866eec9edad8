// GPU self-test of the CUDA kernels that needs neither torch nor GoogleTest, so it runs on
// any machine with nvcc and a GPU (also beside a CPU-only libtorch, or with
// -DVITRINE_OPS_ONLY=ON): every kernel of cuda/na_kernels.h against the same element
// functions executed on the host in float64 (the functions the CPU tests check against the
// reference). Exit 0: all passed; 1: a mismatch (printed); 77: no CUDA device (ctest skip).
// `--quick` checks head dims 4 and 32 only.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "na/cuda/na_kernels.h"
#include "na/cuda/na_naive_elements.cuh"
#include "na/cuda/runtime_info.h"

namespace {

namespace naive = vitrine::cuda::naive;
using vitrine::attention::na::Geometry;
using vitrine::cuda::DType;
using Host = std::vector<double>;

const char* name_of(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat64: return "float64";
  }
  return "?";
}

size_t size_of(DType t) {
  return t == DType::kFloat64 ? 8 : t == DType::kFloat32 ? 4 : 2;
}

double tolerance(DType t) {
  return t == DType::kFloat64   ? 1e-10
         : t == DType::kFloat32 ? 1e-4
         : t == DType::kFloat16 ? 1e-2
                                : 5e-2;
}

// Rounds `x` to the storage type and returns its bytes.
std::vector<unsigned char> encode(DType t, Host& x) {
  std::vector<unsigned char> bytes(x.size() * size_of(t));
  for (size_t i = 0; i < x.size(); ++i) {
    unsigned char* at = bytes.data() + i * size_of(t);
    switch (t) {
      case DType::kFloat64: std::memcpy(at, &x[i], 8); break;
      case DType::kFloat32: {
        const float f = static_cast<float>(x[i]);
        x[i] = f;
        std::memcpy(at, &f, 4);
        break;
      }
      case DType::kFloat16: {
        const __half h = __float2half_rn(static_cast<float>(x[i]));
        x[i] = __half2float(h);
        std::memcpy(at, &h, 2);
        break;
      }
      case DType::kBFloat16: {
        const __nv_bfloat16 b = __float2bfloat16_rn(static_cast<float>(x[i]));
        x[i] = __bfloat162float(b);
        std::memcpy(at, &b, 2);
        break;
      }
    }
  }
  return bytes;
}

Host decode(DType t, const std::vector<unsigned char>& bytes) {
  Host x(bytes.size() / size_of(t));
  for (size_t i = 0; i < x.size(); ++i) {
    const unsigned char* at = bytes.data() + i * size_of(t);
    switch (t) {
      case DType::kFloat64: std::memcpy(&x[i], at, 8); break;
      case DType::kFloat32: {
        float f;
        std::memcpy(&f, at, 4);
        x[i] = f;
        break;
      }
      case DType::kFloat16: {
        __half h;
        std::memcpy(&h, at, 2);
        x[i] = __half2float(h);
        break;
      }
      case DType::kBFloat16: {
        __nv_bfloat16 b;
        std::memcpy(&b, at, 2);
        x[i] = __bfloat162float(b);
        break;
      }
    }
  }
  return x;
}

// A device buffer that frees itself.
struct Buffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  explicit Buffer(size_t n) : bytes(n) {
    if (cudaMalloc(&ptr, n > 0 ? n : 1) != cudaSuccess) ptr = nullptr;
  }
  Buffer(const Buffer&) = delete;
  ~Buffer() { cudaFree(ptr); }
  void upload(const std::vector<unsigned char>& host) {
    cudaMemcpy(ptr, host.data(), host.size(), cudaMemcpyHostToDevice);
  }
  std::vector<unsigned char> download() const {
    std::vector<unsigned char> host(bytes);
    cudaMemcpy(host.data(), ptr, bytes, cudaMemcpyDeviceToHost);
    return host;
  }
  float* f32() { return static_cast<float*>(ptr); }
};

int failures = 0;

void compare(const std::string& what, const Host& got, const Host& want, double tol) {
  double scale = 1, worst = 0;
  for (double w : want)
    if (std::isfinite(w)) scale = std::max(scale, std::abs(w));
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isinf(want[i]) || std::isinf(got[i])) {
      if (got[i] != want[i]) worst = INFINITY;
      continue;
    }
    worst = std::max(worst, std::isnan(got[i]) ? INFINITY : std::abs(got[i] - want[i]) / scale);
  }
  if (worst > tol) {
    ++failures;
    std::printf("  FAIL %s: max relative error %.3g > %.3g\n", what.c_str(), worst, tol);
  }
}

template <typename Fn>
Host host_fill(int64_t n, const Fn& fn) {
  Host out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = fn(i);
  return out;
}

// drpb on the host: every window slot's gradient summed into its bias cell.
Host host_bias_grad(const Geometry& g, const Host& grad_attn) {
  Host sum(static_cast<size_t>(g.heads * g.bias_size()), 0.0);
  for (int64_t i = 0; i < static_cast<int64_t>(grad_attn.size()); ++i) {
    int64_t cell;
    double value;
    if (naive::bias_grad_term(g, grad_attn.data(), i, cell, value)) sum[cell] += value;
  }
  return sum;
}

struct Case {
  std::string name;
  Geometry g;
  bool rpb;
};

Geometry geometry(std::vector<int64_t> lengths, std::vector<int64_t> kernel,
                  std::vector<int64_t> dilation, std::vector<bool> causal, int64_t dim,
                  int64_t value_dim) {
  Geometry g;
  g.batch = 2;
  g.heads = 3;
  g.dim = dim;
  g.value_dim = value_dim;
  const size_t offset = 3 - lengths.size();
  for (size_t a = 0; a < lengths.size(); ++a) {
    g.length[a + offset] = lengths[a];
    g.kernel[a + offset] = kernel[a];
    g.dilation[a + offset] = dilation[a];
    g.causal[a + offset] = causal[a];
  }
  return g;
}

// `quick`: head dims 4 and 32 only (for the host stand-in, which is slow).
std::vector<Case> cases(bool quick) {
  std::vector<Case> all;
  for (int64_t dim : {4, 32, 64, 128}) {
    if (quick && dim > 32) continue;
    const int64_t vdim = dim == 4 ? 5 : dim;  // value dim != head dim only on the naive path
    const std::string d = " D" + std::to_string(dim);
    all.push_back({"1-D L40 K7" + d, geometry({40}, {7}, {1}, {false}, dim, vdim), true});
    all.push_back({"1-D L37 K5 d4 causal" + d, geometry({37}, {5}, {4}, {true}, dim, vdim), false});
    all.push_back({"1-D L13 K13" + d, geometry({13}, {13}, {1}, {false}, dim, vdim), true});
    all.push_back(
        {"2-D 14x14 K7" + d, geometry({14, 14}, {7, 7}, {1, 1}, {false, false}, dim, vdim), true});
    all.push_back({"2-D 9x40 K3,7 d1,2" + d,
                   geometry({9, 40}, {3, 7}, {1, 2}, {false, false}, dim, vdim), true});
    all.push_back({"2-D 6x37 K5,9 d1,4 causal-W" + d,
                   geometry({6, 37}, {5, 9}, {1, 4}, {false, true}, dim, vdim), false});
    all.push_back({"3-D 7x6x8 K3,5,3 d1,1,2" + d,
                   geometry({7, 6, 8}, {3, 5, 3}, {1, 1, 2}, {false, false, false}, dim, vdim),
                   true});
    all.push_back({"3-D 5x7x7 K5,3,3 causal-D" + d,
                   geometry({5, 7, 7}, {5, 3, 3}, {1, 1, 1}, {true, false, false}, dim, vdim),
                   false});
  }
  return all;
}

void run_case(const Case& c, DType t, int device, std::mt19937& rng) {
  const Geometry& g = c.g;
  const std::string tag = c.name + " " + name_of(t);
  const double tol = tolerance(t);
  std::normal_distribution<double> normal;
  auto random = [&](int64_t n) { return host_fill(n, [&](int64_t) { return normal(rng); }); };
  const int64_t n_q = g.batch_heads() * g.tokens() * g.dim;
  const int64_t n_v = g.batch_heads() * g.tokens() * g.value_dim;
  const int64_t n_a = g.batch_heads() * g.tokens() * g.window_size();
  const int64_t n_t = g.batch_heads() * g.tokens();
  const int64_t n_b = g.heads * g.bias_size();
  Host q = random(n_q), k = random(n_q), v = random(n_v), grad_out = random(n_v),
       grad_attn = random(n_a);
  Host rpb = c.rpb ? random(n_b) : Host();
  for (double& b : rpb) b *= 0.1;
  auto device_copy = [&](Host& x) {
    auto buf = std::make_unique<Buffer>(x.size() * size_of(t));
    buf->upload(encode(t, x));
    return buf;
  };
  auto dq_ = device_copy(q), dk_ = device_copy(k), dv_ = device_copy(v),
       dgo = device_copy(grad_out), dga = device_copy(grad_attn);
  std::unique_ptr<Buffer> drpb_in = c.rpb ? device_copy(rpb) : nullptr;
  const double* rpb_h = c.rpb ? rpb.data() : nullptr;
  const void* rpb_d = c.rpb ? drpb_in->ptr : nullptr;
  cudaStream_t stream = nullptr;
  auto ok = [&](cudaError_t e, const char* what) {
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
      ++failures;
      std::printf("  FAIL %s %s: %s\n", tag.c_str(), what, cudaGetErrorString(e));
    }
    return e == cudaSuccess;
  };
  Geometry gq = g;  // qk and its backward see only the head dim
  gq.value_dim = g.dim;

  // Naive qk and av.
  Buffer attn(n_a * size_of(t));
  if (ok(vitrine::cuda::na_qk(t, g, dq_->ptr, dk_->ptr, rpb_d, attn.ptr, stream), "qk"))
    compare(tag + " qk", decode(t, attn.download()),
            host_fill(
                n_a, [&](int64_t i) { return naive::qk<double>(g, q.data(), k.data(), rpb_h, i); }),
            tol * 4);
  Host probs =
      host_fill(n_a, [&](int64_t i) { return naive::qk<double>(g, q.data(), k.data(), rpb_h, i); });
  for (int64_t row = 0; row < n_t; ++row) {
    double* p = probs.data() + row * g.window_size();
    double most = -INFINITY, sum = 0;
    for (int64_t w = 0; w < g.window_size(); ++w) most = std::max(most, p[w]);
    for (int64_t w = 0; w < g.window_size(); ++w) sum += p[w] = std::exp(p[w] - most);
    for (int64_t w = 0; w < g.window_size(); ++w) p[w] /= sum;
  }
  auto dprobs = device_copy(probs);
  Buffer out(n_v * size_of(t));
  if (ok(vitrine::cuda::na_av(t, g, dprobs->ptr, dv_->ptr, out.ptr, stream), "av"))
    compare(
        tag + " av", decode(t, out.download()),
        host_fill(n_v, [&](int64_t i) { return naive::av<double>(g, probs.data(), v.data(), i); }),
        tol);

  // Naive backward.
  Buffer gq_(n_q * size_of(t)), gk_(n_q * size_of(t)), gv_(n_v * size_of(t)),
      gattn(n_a * size_of(t)), grpb(n_b * (t == DType::kFloat64 ? 8 : 4));
  if (ok(vitrine::cuda::na_qk_backward(t, gq, dga->ptr, dq_->ptr, dk_->ptr, gq_.ptr, gk_.ptr,
                                       c.rpb ? grpb.ptr : nullptr, stream),
         "qk_backward")) {
    compare(tag + " qk dq", decode(t, gq_.download()),
            host_fill(n_q,
                      [&](int64_t i) {
                        return naive::gather_grad<double>(gq, grad_attn.data(), k.data(), g.dim, i);
                      }),
            tol);
    compare(tag + " qk dk", decode(t, gk_.download()),
            host_fill(n_q,
                      [&](int64_t i) {
                        return naive::scatter_grad<double>(gq, grad_attn.data(), q.data(), g.dim,
                                                           i);
                      }),
            tol);
    if (c.rpb) {
      const Host want = host_bias_grad(gq, grad_attn);
      compare(tag + " qk drpb", decode(t == DType::kFloat64 ? t : DType::kFloat32, grpb.download()),
              want, tol * 4);
    }
  }
  if (ok(vitrine::cuda::na_av_backward(t, g, dgo->ptr, dprobs->ptr, dv_->ptr, gattn.ptr, gv_.ptr,
                                       stream),
         "av_backward")) {
    compare(tag + " av dattn", decode(t, gattn.download()),
            host_fill(n_a,
                      [&](int64_t i) {
                        return naive::attn_grad<double>(g, grad_out.data(), v.data(), i);
                      }),
            tol);
    compare(tag + " av dv", decode(t, gv_.download()),
            host_fill(n_v,
                      [&](int64_t i) {
                        return naive::scatter_grad<double>(g, probs.data(), grad_out.data(),
                                                           g.value_dim, i);
                      }),
            tol);
  }

  // Fused, where the tiled kernels serve the problem.
  if (!vitrine::cuda::fused_supported(t, g, device)) return;
  const double scale = 1.0 / std::sqrt(static_cast<double>(g.dim));
  Host q_scaled = q;
  for (double& x : q_scaled) x *= scale;
  Host logits = host_fill(
      n_a, [&](int64_t i) { return naive::qk<double>(g, q_scaled.data(), k.data(), rpb_h, i); });
  Host lse(static_cast<size_t>(n_t)), p = logits;
  for (int64_t row = 0; row < n_t; ++row) {
    double most = -INFINITY, sum = 0;
    for (int64_t w = 0; w < g.window_size(); ++w)
      most = std::max(most, logits[row * g.window_size() + w]);
    for (int64_t w = 0; w < g.window_size(); ++w)
      sum += std::exp(logits[row * g.window_size() + w] - most);
    lse[row] = most + std::log(sum);
    for (int64_t w = 0; w < g.window_size(); ++w)
      p[row * g.window_size() + w] = std::exp(logits[row * g.window_size() + w] - lse[row]);
  }
  Host want_out =
      host_fill(n_v, [&](int64_t i) { return naive::av<double>(g, p.data(), v.data(), i); });
  Buffer fout(n_v * size_of(t)), flse(n_t * 4), delta(n_t * 4), fgrpb(n_b * 4);
  if (!ok(vitrine::cuda::na_fused_forward(t, g, dq_->ptr, dk_->ptr, dv_->ptr, rpb_d,
                                          static_cast<float>(scale), fout.ptr, flse.f32(), stream),
          "fused_forward"))
    return;
  compare(tag + " fused out", decode(t, fout.download()), want_out, tol);
  compare(tag + " fused lse", decode(DType::kFloat32, flse.download()), lse, tol * 4);
  if (vitrine::cuda::fna_supported(t, g, device)) {
    // The tensor-core forward: its own outputs, against the same reference.
    Buffer tout(n_v * size_of(t)), tlse(n_t * 4);
    if (ok(vitrine::cuda::na_fna_forward(t, g, dq_->ptr, dk_->ptr, dv_->ptr, rpb_d,
                                         static_cast<float>(scale), tout.ptr, tlse.f32(), stream),
           "fna_forward")) {
      compare(tag + " fna out", decode(t, tout.download()), want_out, tol);
      compare(tag + " fna lse", decode(DType::kFloat32, tlse.download()), lse, tol * 4);
    }
  }
  Host ds(static_cast<size_t>(n_a));
  for (int64_t i = 0; i < n_a; ++i) {
    const int64_t row = i / g.window_size();
    double d = 0;
    for (int64_t c2 = 0; c2 < g.value_dim; ++c2)
      d += grad_out[row * g.value_dim + c2] * want_out[row * g.value_dim + c2];
    ds[i] = p[i] * (naive::attn_grad<double>(g, grad_out.data(), v.data(), i) - d);
  }
  const Host want_dq = host_fill(n_q, [&](int64_t i) {
    return scale * naive::gather_grad<double>(gq, ds.data(), k.data(), g.dim, i);
  });
  const Host want_dk = host_fill(n_q, [&](int64_t i) {
    return scale * naive::scatter_grad<double>(gq, ds.data(), q.data(), g.dim, i);
  });
  const Host want_dv = host_fill(n_v, [&](int64_t i) {
    return naive::scatter_grad<double>(g, p.data(), grad_out.data(), g.value_dim, i);
  });
  const Host want_drpb = c.rpb ? host_bias_grad(gq, ds) : Host();
  // Both backward kernels take the tiled forward's out and lse (the lse contract is shared).
  auto check_backward = [&](const char* kernel, const std::string& label, auto&& run) {
    // NaN bytes in every output, so a kernel that leaves one unwritten (or the bias gradient
    // unzeroed) fails instead of passing on the previous kernel's results.
    for (Buffer* b : {&gq_, &gk_, &gv_, &fgrpb})
      b->upload(std::vector<unsigned char>(b->bytes, 0xff));
    if (!ok(run(), kernel)) return;
    compare(tag + " " + label + " dq", decode(t, gq_.download()), want_dq, tol * 2);
    compare(tag + " " + label + " dk", decode(t, gk_.download()), want_dk, tol * 2);
    compare(tag + " " + label + " dv", decode(t, gv_.download()), want_dv, tol * 2);
    if (c.rpb)
      compare(tag + " " + label + " drpb", decode(DType::kFloat32, fgrpb.download()), want_drpb,
              tol * 8);
  };
  check_backward("fused_backward", "fused", [&] {
    return vitrine::cuda::na_fused_backward(t, g, dgo->ptr, dq_->ptr, dk_->ptr, dv_->ptr, rpb_d,
                                            fout.ptr, flse.f32(), static_cast<float>(scale),
                                            delta.f32(), gq_.ptr, gk_.ptr, gv_.ptr,
                                            c.rpb ? fgrpb.f32() : nullptr, stream);
  });
  if (vitrine::cuda::fna_backward_supported(t, g, c.rpb, device))
    check_backward("fna_backward", "fna", [&] {
      return vitrine::cuda::na_fna_backward(t, g, dgo->ptr, dq_->ptr, dk_->ptr, dv_->ptr, rpb_d,
                                            fout.ptr, flse.f32(), static_cast<float>(scale),
                                            delta.f32(), gq_.ptr, gk_.ptr, gv_.ptr,
                                            c.rpb ? fgrpb.f32() : nullptr, stream);
    });
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  if (vitrine::cuda::device_count() == 0) {
    std::printf("no CUDA device visible: GPU self-test skipped\n");
    return 77;
  }
  std::printf("GPU: %s\n", vitrine::cuda::device_name(0).c_str());
  std::mt19937 rng(7);
  int checked = 0;
  for (const Case& c : cases(quick))
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
      const int before = failures;
      run_case(c, t, 0, rng);
      ++checked;
      std::printf("%s %s %s%s\n", failures == before ? "ok  " : "FAIL", c.name.c_str(), name_of(t),
                  vitrine::cuda::fna_backward_supported(t, c.g, c.rpb, 0) ? " (+fused, +fna)"
                  : vitrine::cuda::fused_supported(t, c.g, 0)             ? " (+fused)"
                                                                          : "");
    }
  std::printf("%d problem/dtype pairs, %d failures\n", checked, failures);
  return failures == 0 ? 0 : 1;
}
