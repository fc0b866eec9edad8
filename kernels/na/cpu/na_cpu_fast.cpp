// Picks the widest build of the tiled kernels that this CPU can run.
#include "na/cpu/na_cpu_fast.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "na/common/na_index.h"

namespace vitrine::attention::na::fast {
namespace baseline {
extern const Kernels kKernels;
}
namespace avx2 {
extern const Kernels kKernels;
}
namespace avx512 {
extern const Kernels kKernels;
}

namespace {
std::atomic<const Kernels*> g_selected{nullptr};
}

const Kernels* kernels_for(const char* isa) {
  __builtin_cpu_init();
  if (std::strcmp(isa, "avx512") == 0)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
               ? &avx512::kKernels
               : nullptr;
  if (std::strcmp(isa, "avx2") == 0)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &avx2::kKernels
                                                                           : nullptr;
  if (std::strcmp(isa, "baseline") == 0) return &baseline::kKernels;
  return nullptr;
}

const Kernels& kernels() {
  const Kernels* selected = g_selected.load();
  if (selected) return *selected;
  const Kernels* best = nullptr;
  if (const char* env = std::getenv("VITRINE_CPU_ISA")) best = kernels_for(env);
  for (const char* isa : {"avx512", "avx2", "baseline"})
    if (!best) best = kernels_for(isa);
  g_selected.store(best);
  return *best;
}

std::vector<Tile> make_tiles(int64_t length, int64_t kernel, int64_t dilation, bool causal,
                             int width) {
  // Runs of one kind inside each group...
  std::vector<Segment> runs;
  for (int64_t g = 0; g < dilation && g < length; ++g) {
    const int64_t glen = group_length(length, dilation, g);
    auto start = [&](int64_t c) {
      return (window(g + dilation * c, length, kernel, dilation, causal).first - g) / dilation;
    };
    for (int64_t c = 0; c < glen;) {
      Segment run{g, c, 1, TileKind::kConstant};
      if (c + 1 < glen && start(c + 1) == start(c) + 1) run.kind = TileKind::kContiguous;
      const int64_t step = run.kind == TileKind::kContiguous ? 1 : 0;
      while (c + run.count < glen && start(c + run.count) == start(c) + step * run.count)
        ++run.count;
      runs.push_back(run);
      c += run.count;
    }
  }
  // ...packed into tiles of `width` lanes, splitting a run where a tile fills up.
  std::vector<Tile> tiles;
  Tile tile;
  for (Segment run : runs) {
    while (run.count > 0) {
      if (tile.count == width || tile.segments == kMaxSegments) {
        tiles.push_back(tile);
        tile = Tile();
      }
      Segment piece = run;
      piece.count = std::min<int64_t>(run.count, width - tile.count);
      tile.segment[tile.segments++] = piece;
      tile.count += piece.count;
      run.first += piece.count;
      run.count -= piece.count;
    }
  }
  if (tile.count > 0) tiles.push_back(tile);
  return tiles;
}

bool select_isa(const char* isa) {
  const Kernels* k = kernels_for(isa);
  if (k) g_selected.store(k);
  return k != nullptr;
}

}  // namespace vitrine::attention::na::fast
