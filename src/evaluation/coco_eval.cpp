#include "evaluation/coco_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <utility>

namespace vitrine::evaluation {
namespace {

// np.linspace(start, stop, num): start + i * step, the last element exactly `stop`.
std::vector<double> linspace(double start, double stop, int num) {
  std::vector<double> out(num);
  const double step = (stop - start) / (num - 1);
  for (int i = 0; i < num; ++i) out[i] = start + i * step;
  out[num - 1] = stop;
  return out;
}

struct AreaRange {
  double lo, hi;
  const char* label;
};
const AreaRange kAreas[4] = {{0, 1e10, "all"},
                             {0, 32.0 * 32, "small"},
                             {32.0 * 32, 96.0 * 96, "medium"},
                             {96.0 * 96, 1e10, "large"}};
const int kMaxDets[3] = {1, 10, 100};

// One image x category x area evaluation (pycocotools' evaluateImg).
struct ImageEval {
  std::vector<double> scores;                 // detections, sorted, cut at maxDet
  std::vector<std::vector<int64_t>> matched;  // [T][D]: matched gt id or 0
  std::vector<std::vector<char>> ignored;     // [T][D]
  std::vector<char> gt_ignore;                // [G]
};

// Indices sorting `keys` descending, stable (np.argsort(-x, kind='mergesort')).
std::vector<size_t> stable_order_desc(const std::vector<double>& keys) {
  std::vector<size_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return keys[a] > keys[b]; });
  return order;
}

// COCOeval's parameters (pycocotools' Params for iouType 'bbox'), with the images and
// categories evaluated.
struct Params {
  std::vector<double> iou_thrs = linspace(0.5, 0.95, 10);
  std::vector<double> rec_thrs = linspace(0.0, 1.0, 101);
  std::vector<int64_t> image_ids, category_ids;  // sorted, unique
  int T() const { return static_cast<int>(iou_thrs.size()); }
  int R() const { return static_cast<int>(rec_thrs.size()); }
  int K() const { return static_cast<int>(category_ids.size()); }
  static constexpr int A = 4, M = 3;
};

// The ground truth and detections of each (image, category).
using Key = std::pair<int64_t, int64_t>;
struct Instances {
  std::map<Key, std::vector<const CocoGroundTruth*>> gts;
  std::map<Key, std::vector<const CocoDetection*>> dts;
};

// accumulate()'s output: precision [T][R][K][A][M] and recall [T][K][A][M], -1 where undefined.
struct Accumulated {
  std::vector<double> precision, recall;
  int T, R, K;
  explicit Accumulated(const Params& p)
      : precision(static_cast<size_t>(p.T()) * p.R() * p.K() * Params::A * Params::M, -1.0),
        recall(static_cast<size_t>(p.T()) * p.K() * Params::A * Params::M, -1.0),
        T(p.T()),
        R(p.R()),
        K(p.K()) {}
  double& p_at(int t, int r, int k, int a, int m) {
    return precision[(((static_cast<size_t>(t) * R + r) * K + k) * Params::A + a) * Params::M + m];
  }
  double p_at(int t, int r, int k, int a, int m) const {
    return const_cast<Accumulated*>(this)->p_at(t, r, k, a, m);
  }
  double& r_at(int t, int k, int a, int m) {
    return recall[((static_cast<size_t>(t) * K + k) * Params::A + a) * Params::M + m];
  }
  double r_at(int t, int k, int a, int m) const {
    return const_cast<Accumulated*>(this)->r_at(t, k, a, m);
  }
};

// One image's ground truth and detections of one category, detections sorted by score and cut
// at the largest maxDet, with their IoUs.
struct PreparedImage {
  std::vector<const CocoGroundTruth*> gt;
  std::vector<const CocoDetection*> dt;
  std::vector<std::vector<double>> ious;  // [D][G]
};

std::vector<PreparedImage> prepare_category(const Params& params, const Instances& instances,
                                            int64_t category) {
  std::vector<PreparedImage> images;
  for (int64_t image : params.image_ids) {
    PreparedImage p;
    const auto gi = instances.gts.find({image, category});
    const auto di = instances.dts.find({image, category});
    if (gi != instances.gts.end()) p.gt = gi->second;
    if (di != instances.dts.end()) p.dt = di->second;
    if (p.gt.empty() && p.dt.empty()) continue;
    std::vector<double> s;
    for (const auto* d : p.dt) s.push_back(d->score);
    std::vector<const CocoDetection*> sorted;
    for (size_t i : stable_order_desc(s)) sorted.push_back(p.dt[i]);
    if (sorted.size() > static_cast<size_t>(kMaxDets[Params::M - 1]))
      sorted.resize(kMaxDets[Params::M - 1]);
    p.dt = sorted;
    for (const auto* d : p.dt) {
      std::vector<double> row;
      for (const auto* g : p.gt) row.push_back(coco_box_iou(d->bbox, g->bbox, g->iscrowd));
      p.ious.push_back(row);
    }
    images.push_back(std::move(p));
  }
  return images;
}

// pycocotools' evaluateImg: greedy matching of one image's detections per IoU threshold.
ImageEval evaluate_image(const Params& params, const PreparedImage& p, const AreaRange& range) {
  const int T = params.T();
  ImageEval e;
  // Ground truth: ignored ones last (stable).
  std::vector<double> ignore_key;
  for (const auto* g : p.gt)
    ignore_key.push_back(g->iscrowd || g->area < range.lo || g->area > range.hi ? 1 : 0);
  std::vector<size_t> gorder(p.gt.size());
  std::iota(gorder.begin(), gorder.end(), 0);
  std::stable_sort(gorder.begin(), gorder.end(),
                   [&](size_t x, size_t y) { return ignore_key[x] < ignore_key[y]; });
  const size_t G = p.gt.size(), D = std::min<size_t>(p.dt.size(), kMaxDets[Params::M - 1]);
  for (size_t gi : gorder) e.gt_ignore.push_back(static_cast<char>(ignore_key[gi]));
  for (size_t d = 0; d < D; ++d) e.scores.push_back(p.dt[d]->score);
  e.matched.assign(T, std::vector<int64_t>(D, 0));
  e.ignored.assign(T, std::vector<char>(D, 0));
  std::vector<std::vector<int64_t>> gt_matched(T, std::vector<int64_t>(G, 0));
  for (int t = 0; t < T; ++t)
    for (size_t d = 0; d < D; ++d) {
      double best = std::min(params.iou_thrs[t], 1 - 1e-10);
      long m = -1;
      for (size_t j = 0; j < G; ++j) {
        const size_t g = gorder[j];
        if (gt_matched[t][j] > 0 && !p.gt[g]->iscrowd) continue;
        if (m > -1 && e.gt_ignore[m] == 0 && e.gt_ignore[j] == 1) break;
        if (p.ious[d][g] < best) continue;
        best = p.ious[d][g];
        m = static_cast<long>(j);
      }
      if (m == -1) continue;
      e.ignored[t][d] = e.gt_ignore[m];
      e.matched[t][d] = p.gt[gorder[m]]->id;
      gt_matched[t][m] = 1;  // pycocotools stores the detection id; only > 0 matters
    }
  // Unmatched detections outside the area range are ignored.
  for (size_t d = 0; d < D; ++d) {
    const double area = p.dt[d]->bbox[2] * p.dt[d]->bbox[3];
    if (area < range.lo || area > range.hi)
      for (int t = 0; t < T; ++t)
        if (e.matched[t][d] == 0) e.ignored[t][d] = 1;
  }
  return e;
}

// pycocotools' accumulate for category k and area a: detections of all images sorted by score,
// precision made monotone and sampled at the recall thresholds, for each maxDet.
void accumulate(const Params& params, const std::vector<ImageEval>& evals, int k, int a,
                Accumulated& out) {
  const int T = params.T(), R = params.R();
  for (int mi = 0; mi < Params::M; ++mi) {
    const size_t max_det = kMaxDets[mi];
    std::vector<double> scores;
    std::vector<std::pair<size_t, size_t>> owner;  // (image eval, detection)
    size_t not_ignored_gt = 0;
    for (size_t i = 0; i < evals.size(); ++i) {
      for (size_t d = 0; d < std::min(max_det, evals[i].scores.size()); ++d) {
        scores.push_back(evals[i].scores[d]);
        owner.emplace_back(i, d);
      }
      for (char ig : evals[i].gt_ignore) not_ignored_gt += ig == 0;
    }
    if (not_ignored_gt == 0) continue;
    const std::vector<size_t> order = stable_order_desc(scores);
    const size_t nd = order.size();
    for (int t = 0; t < T; ++t) {
      std::vector<double> rc(nd), pr(nd);
      double tp = 0, fp = 0;
      for (size_t n = 0; n < nd; ++n) {
        const auto [i, d] = owner[order[n]];
        const bool ignored = evals[i].ignored[t][d] != 0;
        const bool matched = evals[i].matched[t][d] != 0;
        if (matched && !ignored) tp += 1;
        if (!matched && !ignored) fp += 1;
        rc[n] = tp / static_cast<double>(not_ignored_gt);
        pr[n] = tp / (fp + tp + std::numeric_limits<double>::epsilon());
      }
      out.r_at(t, k, a, mi) = nd ? rc[nd - 1] : 0;
      for (size_t n = nd; n-- > 1;)
        if (pr[n] > pr[n - 1]) pr[n - 1] = pr[n];
      for (int r = 0; r < R; ++r) {
        const size_t at = std::lower_bound(rc.begin(), rc.end(), params.rec_thrs[r]) - rc.begin();
        out.p_at(t, r, k, a, mi) = at < nd ? pr[at] : 0.0;  // pycocotools leaves zeros
      }
    }
  }
}

// pycocotools' summarize: the 12 means over entries > -1, and their printed lines.
CocoEvalResult summarize(const Params& params, const Accumulated& acc) {
  const int T = params.T(), R = params.R(), K = params.K();
  CocoEvalResult result;
  auto summarize_one = [&](bool ap, int t_only, int a, int mi) {
    double sum = 0;
    size_t count = 0;
    for (int t = 0; t < T; ++t) {
      if (t_only >= 0 && t != t_only) continue;
      for (int k = 0; k < K; ++k) {
        if (ap) {
          for (int r = 0; r < R; ++r) {
            const double v = acc.p_at(t, r, k, a, mi);
            if (v > -1) sum += v, ++count;
          }
        } else {
          const double v = acc.r_at(t, k, a, mi);
          if (v > -1) sum += v, ++count;
        }
      }
    }
    const double mean = count ? sum / count : -1;
    char line[160];
    char iou[16];
    if (t_only < 0)
      std::snprintf(iou, sizeof(iou), "%0.2f:%0.2f", params.iou_thrs[0], params.iou_thrs[T - 1]);
    else
      std::snprintf(iou, sizeof(iou), "%0.2f", params.iou_thrs[t_only]);
    std::snprintf(line, sizeof(line), " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                  ap ? "Average Precision" : "Average Recall", ap ? "(AP)" : "(AR)", iou,
                  kAreas[a].label, kMaxDets[mi], mean);
    result.summary += line;
    return mean;
  };
  // np.where(iouThr == p.iouThrs): thresholds compared exactly, as pycocotools does.
  auto index_of = [&](double thr) {
    for (int t = 0; t < T; ++t)
      if (params.iou_thrs[t] == thr) return t;
    return -2;  // no match: pycocotools averages an empty selection to -1
  };
  int s = 0;
  result.stats[s++] = summarize_one(true, -1, 0, 2);
  result.stats[s++] = summarize_one(true, index_of(0.5), 0, 2);
  result.stats[s++] = summarize_one(true, index_of(0.75), 0, 2);
  result.stats[s++] = summarize_one(true, -1, 1, 2);
  result.stats[s++] = summarize_one(true, -1, 2, 2);
  result.stats[s++] = summarize_one(true, -1, 3, 2);
  result.stats[s++] = summarize_one(false, -1, 0, 0);
  result.stats[s++] = summarize_one(false, -1, 0, 1);
  result.stats[s++] = summarize_one(false, -1, 0, 2);
  result.stats[s++] = summarize_one(false, -1, 1, 2);
  result.stats[s++] = summarize_one(false, -1, 2, 2);
  result.stats[s++] = summarize_one(false, -1, 3, 2);
  return result;
}

// Sorted, unique ids.
void sort_unique(std::vector<int64_t>& ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
}

}  // namespace

double coco_box_iou(const std::array<double, 4>& d, const std::array<double, 4>& g, bool crowd) {
  const double w = std::min(d[0] + d[2], g[0] + g[2]) - std::max(d[0], g[0]);
  const double h = std::min(d[1] + d[3], g[1] + g[3]) - std::max(d[1], g[1]);
  if (w <= 0 || h <= 0) return 0;
  const double inter = w * h, da = d[2] * d[3];
  const double uni = crowd ? da : da + g[2] * g[3] - inter;
  return uni > 0 ? inter / uni : 0;
}

CocoEvalResult coco_evaluate_bbox(const std::vector<CocoGroundTruth>& ground_truth,
                                  const std::vector<CocoDetection>& detections,
                                  std::vector<int64_t> image_ids,
                                  std::vector<int64_t> category_ids) {
  Params params;
  if (image_ids.empty()) {
    for (const auto& g : ground_truth) image_ids.push_back(g.image_id);
    for (const auto& d : detections) image_ids.push_back(d.image_id);
  }
  if (category_ids.empty())
    for (const auto& g : ground_truth) category_ids.push_back(g.category_id);
  sort_unique(image_ids);
  sort_unique(category_ids);
  params.image_ids = std::move(image_ids);
  params.category_ids = std::move(category_ids);

  const std::set<int64_t> image_set(params.image_ids.begin(), params.image_ids.end());
  Instances instances;
  for (const auto& g : ground_truth)
    if (image_set.count(g.image_id)) instances.gts[{g.image_id, g.category_id}].push_back(&g);
  for (const auto& d : detections)
    if (image_set.count(d.image_id)) instances.dts[{d.image_id, d.category_id}].push_back(&d);

  // evaluate() and accumulate() one category at a time, so only its matches are in memory.
  Accumulated accumulated(params);
  for (int k = 0; k < params.K(); ++k) {
    const std::vector<PreparedImage> images =
        prepare_category(params, instances, params.category_ids[k]);
    for (int a = 0; a < Params::A; ++a) {
      std::vector<ImageEval> evals;
      for (const PreparedImage& p : images) evals.push_back(evaluate_image(params, p, kAreas[a]));
      accumulate(params, evals, k, a, accumulated);
    }
  }
  return summarize(params, accumulated);
}

}  // namespace vitrine::evaluation
