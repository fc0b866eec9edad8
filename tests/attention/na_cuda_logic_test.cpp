// The CUDA kernels' logic, run on the CPU: the naive per-element functions every GPU thread
// executes (cuda/na_naive_elements.cuh) and the fused tiled kernels' block phases
// (cuda/na_fused_tiled.cuh, every thread of a phase before the next, as __syncthreads()
// orders them) against the reference and its autograd, in float64 and float32, over the
// shape grid of the CPU op tests. The GPU tests then only have to show that the GPU runs
// this code as the CPU does.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "attention/ops/na_reference.h"
#include "na/cuda/na_fna_plan.h"
#include "na/cuda/na_fused_tiled.cuh"
#include "na/cuda/na_naive_elements.cuh"
#include "support/na_cases.h"

namespace {

namespace na = vitrine::attention::na;
namespace reference = vitrine::attention::reference;
namespace naive = vitrine::cuda::naive;
namespace tiled = vitrine::cuda::tiled;
using at::Tensor;
using vitrine::testing::Case;
using vitrine::testing::random_cases;

na::Geometry geometry_of(const Case& c, int64_t dim, int64_t value_dim) {
  na::Geometry g;
  g.batch = c.batch;
  g.heads = c.heads;
  g.dim = dim;
  g.value_dim = value_dim;
  const int offset = 3 - static_cast<int>(c.lengths.size());
  for (size_t a = 0; a < c.lengths.size(); ++a) {
    g.length[a + offset] = c.lengths[a];
    g.kernel[a + offset] = c.kernel[a];
    g.dilation[a + offset] = c.dilation[a];
    g.causal[a + offset] = c.causal[a];
  }
  return g;
}

template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// Runs `element(index)` for every index of `shape` into a new tensor.
template <typename T, typename Fn>
Tensor fill(at::IntArrayRef shape, const Fn& element) {
  Tensor out = at::empty(shape, c10::CppTypeToScalarType<T>::value);
  T* o = out.data_ptr<T>();
  for (int64_t i = 0; i < out.numel(); ++i) o[i] = element(i);
  return out;
}

// -inf positions compared exactly, the rest numerically.
void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
  ASSERT_TRUE(at::equal(at::isinf(g), at::isinf(w))) << what << ": masked slots differ";
  ASSERT_FALSE(at::isnan(g).any().item<bool>()) << what << ": NaN";
  const double diff =
      (g.masked_fill(at::isinf(g), 0) - w.masked_fill(at::isinf(w), 0)).abs().max().item<double>();
  EXPECT_LE(diff, tol) << what;
}

// Autograd through the reference: gradients of sum(out * grad_out) for each input.
std::vector<Tensor> reference_grads(const Tensor& out, const Tensor& grad_out,
                                    const std::vector<Tensor>& inputs) {
  Tensor finite = at::isinf(out).logical_not();
  Tensor loss =
      (out.masked_fill(finite.logical_not(), 0) * grad_out.masked_fill(finite.logical_not(), 0))
          .sum();
  return torch::autograd::grad({loss}, inputs, {}, /*retain_graph=*/true, false,
                               /*allow_unused=*/true);
}

template <typename T>
void check_naive(const Case& c, double tol) {
  SCOPED_TRACE(c.describe());
  const auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  const int64_t value_dim = c.dim + 1;
  const na::Geometry g = geometry_of(c, c.dim, value_dim);
  Tensor q = at::randn(c.shape(c.dim), opt), k = at::randn(c.shape(c.dim), opt);
  Tensor v = at::randn(c.shape(value_dim), opt);
  Tensor rpb = c.rpb ? at::randn(c.rpb_shape(), opt) : Tensor();
  const T* rpb_p = data_or_null<T>(rpb);

  // Forward ops.
  Tensor attn = fill<T>(c.shape(c.window()), [&](int64_t i) {
    return static_cast<T>(naive::qk<T>(g, q.data_ptr<T>(), k.data_ptr<T>(), rpb_p, i));
  });
  const c10::optional<Tensor> rpb_opt = c.rpb ? c10::optional<Tensor>(rpb) : c10::nullopt;
  expect_close(attn, reference::qk(q, k, rpb_opt, c.kernel, c.dilation, c.causal), tol, "qk");
  Tensor weights = at::softmax(attn, -1).contiguous();
  Tensor out = fill<T>(c.shape(value_dim), [&](int64_t i) {
    return static_cast<T>(naive::av<T>(g, weights.data_ptr<T>(), v.data_ptr<T>(), i));
  });
  expect_close(out, reference::av(weights, v, c.kernel, c.dilation, c.causal), tol, "av");

  // Backward of qk: dq, dk, drpb.
  Tensor grad_attn = at::randn(c.shape(c.window()), opt);
  std::vector<Tensor> leaves{q.clone().requires_grad_(true), k.clone().requires_grad_(true)};
  if (c.rpb) leaves.push_back(rpb.clone().requires_grad_(true));
  Tensor ref_attn =
      reference::qk(leaves[0], leaves[1], c.rpb ? c10::optional<Tensor>(leaves[2]) : c10::nullopt,
                    c.kernel, c.dilation, c.causal);
  std::vector<Tensor> want = reference_grads(ref_attn, grad_attn, leaves);
  const T* ga = grad_attn.data_ptr<T>();
  expect_close(
      fill<T>(c.shape(c.dim),
              [&](int64_t i) {
                return static_cast<T>(naive::gather_grad<T>(g, ga, k.data_ptr<T>(), c.dim, i));
              }),
      want[0], tol, "dq");
  expect_close(
      fill<T>(c.shape(c.dim),
              [&](int64_t i) {
                return static_cast<T>(naive::scatter_grad<T>(g, ga, q.data_ptr<T>(), c.dim, i));
              }),
      want[1], tol, "dk");
  if (c.rpb) {
    std::vector<double> drpb(static_cast<size_t>(rpb.numel()), 0.0);
    for (int64_t i = 0; i < grad_attn.numel(); ++i) {
      int64_t cell;
      T value;
      if (naive::bias_grad_term(g, ga, i, cell, value)) drpb[cell] += value;
    }
    expect_close(at::tensor(drpb, at::kDouble).view(rpb.sizes()), want[2], tol * 10, "drpb");
  }

  // Backward of av: dattn, dv.
  Tensor grad_out = at::randn(c.shape(value_dim), opt);
  std::vector<Tensor> av_leaves{weights.clone().requires_grad_(true),
                                v.clone().requires_grad_(true)};
  Tensor ref_out = reference::av(av_leaves[0], av_leaves[1], c.kernel, c.dilation, c.causal);
  std::vector<Tensor> av_want = reference_grads(ref_out, grad_out, av_leaves);
  Tensor dattn = fill<T>(c.shape(c.window()), [&](int64_t i) {
    return static_cast<T>(naive::attn_grad<T>(g, grad_out.data_ptr<T>(), v.data_ptr<T>(), i));
  });
  // The reference's gradient at slots without a key is whatever its gather produced; the
  // kernels define it as 0, and the softmax backward never reads it (weights are 0 there).
  Tensor valid = at::isinf(attn).logical_not();
  expect_close(dattn.masked_fill(valid.logical_not(), 0),
               av_want[0].masked_fill(valid.logical_not(), 0), tol, "dattn");
  EXPECT_TRUE(at::all(dattn.masked_select(valid.logical_not()) == 0).item<bool>());
  expect_close(fill<T>(c.shape(value_dim),
                       [&](int64_t i) {
                         return static_cast<T>(naive::scatter_grad<T>(
                             g, weights.data_ptr<T>(), grad_out.data_ptr<T>(), value_dim, i));
                       }),
               av_want[1], tol, "dv");
}

}  // namespace

TEST(NaCudaLogic, NaiveElementsMatchTheReferenceInDouble) {
  for (int axes = 1; axes <= 3; ++axes)
    for (const Case& c : random_cases(axes, axes == 3 ? 12 : 25, 70 + axes))
      check_naive<double>(c, 1e-11);
}

TEST(NaCudaLogic, NaiveElementsMatchTheReferenceInFloat) {
  for (int axes = 1; axes <= 3; ++axes)
    for (const Case& c : random_cases(axes, 8, 80 + axes)) check_naive<float>(c, 2e-4);
}

namespace {

// Every block of a grid, with the tile plan's promises checked on the way: spans within
// the shared-memory bound, every member's partners inside the staged span, and each token
// a member of exactly one block. Shared memory starts as NaN so that a read of anything a
// phase did not write poisons the result.
template <class Kernel>
void run_grid(const Kernel& kernel, bool inverse) {
  using Tile = typename Kernel::Tile;
  const na::Geometry& g = kernel.g;
  std::vector<int> visits(static_cast<size_t>(g.batch_heads() * g.tokens()), 0);
  for (int64_t bh = 0; bh < g.batch_heads(); ++bh)
    for (int64_t block = 0; block < tiled::blocks_per_head(g, Tile::kTile); ++block) {
      const tiled::TilePlan p = tiled::plan_tile(g, Tile::kTile, inverse, bh, block);
      ASSERT_LE(p.span_count, tiled::max_span(g, Tile::kTile, inverse));
      for (int64_t m = 0; m < p.count; ++m) {
        ++visits[static_cast<size_t>(bh * g.tokens() + tiled::member_token(g, p, m))];
        const int64_t position = na::from_group(p.first + m, p.group, g.dilation[2]);
        const na::Span run = tiled::partner_run(g, inverse, 2, position);
        const int64_t first = na::in_group(run.first, g.dilation[2]);
        ASSERT_GE(first, p.span_first);
        ASSERT_LE(first + run.count, p.span_first + p.span_count);
        ASSERT_LE(run.count, inverse ? tiled::max_inverse(g) : g.kernel[2]);
        for (int a = 0; a < 2; ++a) {
          const na::Span own = tiled::partner_run(g, inverse, a, p.fixed[a]);
          ASSERT_EQ(own.first, p.rows[a].first);
          ASSERT_EQ(own.count, p.rows[a].count);
        }
      }
      std::vector<float> smem(static_cast<size_t>(kernel.s.total), NAN);
      tiled::HostExec<typename Kernel::State> exec(Tile::kThreads);
      tiled::run_block(kernel, p, smem.data(), exec);
    }
  for (int v : visits) ASSERT_EQ(v, 1);
}

template <int D>
void check_tiled(const Case& base) {
  Case c = base;
  c.dim = D;
  SCOPED_TRACE(c.describe());
  using Tile = tiled::Tiling<D>;
  const na::Geometry g = geometry_of(c, D, D);
  Tensor q = at::randn(c.shape(D)), k = at::randn(c.shape(D)), v = at::randn(c.shape(D));
  Tensor rpb = c.rpb ? at::randn(c.rpb_shape()) : Tensor();
  Tensor grad_out = at::randn(c.shape(D));
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));

  // Reference in double with autograd.
  std::vector<Tensor> leaves{q.to(at::kDouble).requires_grad_(true),
                             k.to(at::kDouble).requires_grad_(true),
                             v.to(at::kDouble).requires_grad_(true)};
  if (c.rpb) leaves.push_back(rpb.to(at::kDouble).requires_grad_(true));
  const c10::optional<Tensor> rpb_ref = c.rpb ? c10::optional<Tensor>(leaves[3]) : c10::nullopt;
  Tensor want_out = reference::fused(leaves[0], leaves[1], leaves[2], rpb_ref, c.kernel, c.dilation,
                                     c.causal, scale);
  Tensor want_lse = at::logsumexp(
      reference::qk(leaves[0] * scale, leaves[1], rpb_ref, c.kernel, c.dilation, c.causal), -1);
  std::vector<Tensor> want = reference_grads(want_out, grad_out.to(at::kDouble), leaves);

  Tensor out = at::full(c.shape(D), NAN), lse = at::full(c.shape(1), NAN).squeeze(-1);
  tiled::Tensors<float> t;
  t.q = q.data_ptr<float>();
  t.k = k.data_ptr<float>();
  t.v = v.data_ptr<float>();
  t.rpb = data_or_null<float>(rpb);
  t.out_w = out.data_ptr<float>();
  t.lse_w = lse.data_ptr<float>();
  t.scale = scale;
  tiled::ForwardKernel<float, D> forward{
      g, t, tiled::shared_layout(g, tiled::Pass::kForward, D, Tile::kTile, Tile::kLanes)};
  run_grid(forward, false);
  expect_close(out, want_out, 2e-5, "out");
  expect_close(lse, want_lse, 2e-5, "lse");

  // Backward, fed with the kernel's own forward results as the op layer does.
  Tensor delta = at::empty(c.shape(1)).squeeze(-1);
  for (int64_t i = 0; i < delta.numel(); ++i)
    delta.data_ptr<float>()[i] =
        naive::row_dot<float>(g, grad_out.data_ptr<float>(), out.data_ptr<float>(), i);
  Tensor dq = at::full(c.shape(D), NAN), dk = at::full(c.shape(D), NAN),
         dv = at::full(c.shape(D), NAN);
  Tensor drpb = c.rpb ? at::zeros(c.rpb_shape()) : Tensor();
  t.out = out.data_ptr<float>();
  t.grad_out = grad_out.data_ptr<float>();
  t.lse = lse.data_ptr<float>();
  t.delta = delta.data_ptr<float>();
  t.grad_q = dq.data_ptr<float>();
  t.grad_k = dk.data_ptr<float>();
  t.grad_v = dv.data_ptr<float>();
  t.grad_rpb = c.rpb ? drpb.data_ptr<float>() : nullptr;
  tiled::QueryGradKernel<float, D> query_pass{
      g, t, tiled::shared_layout(g, tiled::Pass::kQueryGrad, D, Tile::kTile, Tile::kLanes)};
  run_grid(query_pass, false);
  tiled::KeyGradKernel<float, D> key_pass{
      g, t, tiled::shared_layout(g, tiled::Pass::kKeyGrad, D, Tile::kTile, Tile::kLanes)};
  run_grid(key_pass, true);
  expect_close(dq, want[0], 1e-4, "dq");
  expect_close(dk, want[1], 1e-4, "dk");
  expect_close(dv, want[2], 1e-4, "dv");
  if (c.rpb) expect_close(drpb, want[3], 5e-4, "drpb");
}

}  // namespace

TEST(NaCudaLogic, TiledPlansCoverEveryAxisConfiguration) {
  // Every small 1-D axis: member and partner runs, spans and bounds (run_grid's checks)
  // with a forward pass and both backward passes on zero inputs.
  for (int64_t length = 1; length <= 20; ++length)
    for (int64_t dilation = 1; dilation <= 4; ++dilation)
      for (int64_t kernel = 1; kernel * dilation <= length; kernel += 2)
        for (bool causal : {false, true}) {
          Case c{{length}, {kernel}, {dilation}, {causal}, false, 1, 1, 32};
          SCOPED_TRACE(c.describe());
          const na::Geometry g = geometry_of(c, 32, 32);
          using Tile = tiled::Tiling<32>;
          Tensor zeros = at::zeros(c.shape(32)), scalars = at::zeros(c.shape(1));
          Tensor out = at::empty(c.shape(32)), lse = at::empty(c.shape(1));
          tiled::Tensors<float> t;
          t.q = t.k = t.v = t.grad_out = t.out = zeros.data_ptr<float>();
          t.lse = t.delta = scalars.data_ptr<float>();
          t.out_w = out.data_ptr<float>();
          t.lse_w = lse.data_ptr<float>();
          t.grad_q = t.grad_k = t.grad_v = out.data_ptr<float>();
          run_grid(
              tiled::KeyGradKernel<float, 32>{
                  g, t,
                  tiled::shared_layout(g, tiled::Pass::kKeyGrad, 32, Tile::kTile, Tile::kLanes)},
              true);
          run_grid(
              tiled::ForwardKernel<float, 32>{
                  g, t,
                  tiled::shared_layout(g, tiled::Pass::kForward, 32, Tile::kTile, Tile::kLanes)},
              false);
          // Zero logits: uniform weights, lse = log(window size) on every query.
          for (int64_t i = 0; i < length; ++i) {
            const na::Span w = na::window(i, length, kernel, dilation, causal);
            ASSERT_NEAR(lse.data_ptr<float>()[i], std::log(static_cast<float>(w.count)), 1e-6);
          }
        }
}

TEST(NaCudaLogic, TiledKernelsMatchTheReferenceHeadDim32) {
  for (int axes = 1; axes <= 3; ++axes)
    for (const Case& c : random_cases(axes, axes == 3 ? 6 : 10, 90 + axes)) check_tiled<32>(c);
}

TEST(NaCudaLogic, TiledKernelsMatchTheReferenceHeadDim64) {
  for (int axes = 1; axes <= 3; ++axes)
    for (const Case& c : random_cases(axes, axes == 3 ? 4 : 6, 100 + axes)) check_tiled<64>(c);
}

TEST(NaCudaLogic, TiledKernelsMatchTheReferenceHeadDim128) {
  for (int axes = 1; axes <= 2; ++axes)
    for (const Case& c : random_cases(axes, 4, 110 + axes)) check_tiled<128>(c);
}

// The tensor-core forward's plan (cuda/na_fna_plan.h): over random 1-D/2-D/3-D problems with
// dilation and causal axes, every query of every (batch, head) lands in exactly one CTA's tile,
// in the dilation group of its residue, and each of its window keys is inside that CTA's key
// box, exactly once; the box holds no key that no query of the tile attends along an axis.
TEST(NaCudaLogic, TensorCorePlanCoversEveryQueryAndWindowOnce) {
  namespace fna = vitrine::cuda::fna;
  for (int axes = 1; axes <= 3; ++axes)
    for (const Case& c : random_cases(axes, 25, 500 + axes)) {
      SCOPED_TRACE(c.describe());
      const na::Geometry g = geometry_of(c, 32, 32);
      const fna::TileShape shape = fna::tile_shape(g);
      ASSERT_EQ(shape.extent[0] * shape.extent[1] * shape.extent[2], fna::kTile);
      std::vector<int> seen(static_cast<size_t>(g.batch_heads() * g.tokens()), 0);
      for (int64_t cta = 0; cta < fna::cta_count(g, shape); ++cta) {
        const fna::CtaPlan p = fna::plan_cta(g, shape, cta);
        if (p.empty) continue;
        for (int a = 0; a < 3; ++a) {
          // Tight box: its ends are the first query's window start and the last query's end.
          const na::Span head =
              na::axis_window(g, a, na::from_group(p.tile.first[a], p.residue[a], g.dilation[a]));
          const int64_t last = p.tile.first[a] + p.tile.extent[a] - 1;
          const na::Span tail =
              na::axis_window(g, a, na::from_group(last, p.residue[a], g.dilation[a]));
          ASSERT_EQ(na::from_group(p.reach.first[a], p.residue[a], g.dilation[a]), head.first);
          ASSERT_EQ(
              na::from_group(p.reach.first[a] + p.reach.extent[a] - 1, p.residue[a], g.dilation[a]),
              tail.first + (tail.count - 1) * g.dilation[a]);
        }
        for (int64_t row = 0; row < fna::kTile; ++row) {
          const fna::QueryWindow w = fna::query_window(g, shape, p, row);
          if (!w.valid) continue;
          const int64_t token = fna::token_of(g, p, w.at);
          ++seen[static_cast<size_t>(p.bh * g.tokens() + token)];
          // The window keys found in the box, chunk by chunk, against the query's own window.
          std::vector<int64_t> found;
          for (int64_t u = 0; u < p.chunks() * fna::kChunk; ++u) {
            int64_t kc[3];
            if (fna::reach_member(p, u, kc) && fna::attends(w, kc)) {
              found.push_back(fna::token_of(g, p, kc));
              const na::Coord3 qi = na::token_coord(g, token),
                               kj = na::token_coord(g, found.back());
              ASSERT_EQ(fna::bias_cell(g, w, kc), na::bias_offset(g, qi, kj));
            }
          }
          std::vector<int64_t> want;
          const na::Coord3 qi = na::token_coord(g, token);
          for (int64_t slot = 0; slot < g.window_size(); ++slot) {
            na::Coord3 kj;
            if (na::slot_key(g, qi, slot, kj)) want.push_back(na::token_index(g, kj));
          }
          std::sort(found.begin(), found.end());
          std::sort(want.begin(), want.end());
          ASSERT_EQ(found, want) << "query token " << token;
        }
      }
      for (int v : seen) ASSERT_EQ(v, 1);
    }
}

// The tensor-core backward's key-side plan (Side::kKeys): every key lands in exactly one CTA's
// tile, and the queries of that CTA's reach whose windows hold the key (as the dK/dV pass masks
// them) are exactly the queries that attend the key, found here by inverting every query's
// window slot by slot; the bias cell of each pair is the reference's.
TEST(NaCudaLogic, TensorCoreKeyPlanCoversEveryKeyAndItsQueriesOnce) {
  namespace fna = vitrine::cuda::fna;
  for (int axes = 1; axes <= 3; ++axes)
    for (const Case& c : random_cases(axes, 25, 520 + axes)) {
      SCOPED_TRACE(c.describe());
      const na::Geometry g = geometry_of(c, 32, 32);
      const fna::TileShape shape = fna::tile_shape(g);
      // attended_by[key] = the query tokens whose windows hold it (one head).
      std::vector<std::vector<int64_t>> attended_by(static_cast<size_t>(g.tokens()));
      for (int64_t query = 0; query < g.tokens(); ++query) {
        const na::Coord3 qi = na::token_coord(g, query);
        for (int64_t slot = 0; slot < g.window_size(); ++slot) {
          na::Coord3 kj;
          if (na::slot_key(g, qi, slot, kj))
            attended_by[static_cast<size_t>(na::token_index(g, kj))].push_back(query);
        }
      }
      std::vector<int> seen(static_cast<size_t>(g.batch_heads() * g.tokens()), 0);
      for (int64_t cta = 0; cta < fna::cta_count(g, shape); ++cta) {
        const fna::CtaPlan p = fna::plan_cta(g, shape, cta, fna::Side::kKeys);
        if (p.empty) continue;
        for (int64_t row = 0; row < fna::kTile; ++row) {
          int64_t kc[3];
          if (!fna::tile_member(shape, p, row, kc)) continue;
          const int64_t key = fna::token_of(g, p, kc);
          ++seen[static_cast<size_t>(p.bh * g.tokens() + key)];
          std::vector<int64_t> found;
          for (int64_t u = 0; u < p.chunks() * fna::kChunk; ++u) {
            int64_t qc[3];
            const bool real = fna::reach_member(p, u, qc);
            const fna::QueryWindow w = fna::window_at(g, p, qc, real);
            if (!fna::attends(w, kc)) continue;
            found.push_back(fna::token_of(g, p, qc));
            ASSERT_EQ(
                fna::relative_cell(g, qc, kc),
                na::bias_offset(g, na::token_coord(g, found.back()), na::token_coord(g, key)));
          }
          std::vector<int64_t> want = attended_by[static_cast<size_t>(key)];
          std::sort(found.begin(), found.end());
          std::sort(want.begin(), want.end());
          ASSERT_EQ(found, want) << "key token " << key;
        }
      }
      for (int v : seen) ASSERT_EQ(v, 1);
    }
}
