// COCOeval (bbox) against hand-worked cases: perfect detections, a partial case whose twelve
// numbers are derived below from pycocotools' rules, crowd regions, the maxDets cut per image and
// category, categories without ground truth, and the summary format.
#include "evaluation/coco_eval.h"

#include <gtest/gtest.h>

namespace vitrine::evaluation {
namespace {

CocoGroundTruth gt(int64_t id, int64_t image, int64_t cat, std::array<double, 4> box,
                   bool crowd = false) {
  CocoGroundTruth g;
  g.id = id;
  g.image_id = image;
  g.category_id = cat;
  g.bbox = box;
  g.area = box[2] * box[3];
  g.iscrowd = crowd;
  return g;
}

CocoDetection det(int64_t image, int64_t cat, std::array<double, 4> box, double score) {
  CocoDetection d;
  d.image_id = image;
  d.category_id = cat;
  d.bbox = box;
  d.score = score;
  return d;
}

TEST(CocoEval, PerfectDetectionsScoreOne) {
  // One small (20x20), one medium (50x50) and one large (120x120) object in two categories.
  const std::vector<CocoGroundTruth> g{gt(1, 1, 1, {0, 0, 20, 20}), gt(2, 1, 2, {50, 50, 50, 50}),
                                       gt(3, 2, 1, {0, 0, 120, 120})};
  std::vector<CocoDetection> d;
  for (const auto& x : g) d.push_back(det(x.image_id, x.category_id, x.bbox, 0.9));
  const CocoEvalResult r = coco_evaluate_bbox(g, d);
  // Every AP/AR is 1, AR@1 included: one object per image and category.
  for (int i = 0; i < 12; ++i) EXPECT_DOUBLE_EQ(r.stats[i], 1.0) << "stat " << i;
}

// Two large objects; d1 (0.9) hits g1 exactly, d2 (0.8) is a large false positive, d3 (0.7)
// overlaps g2 with IoU 0.62 (a match at thresholds .50/.55/.60 only) and is medium-sized.
// t <= .60: precision [1, .5, .667] -> monotone [1, .667, .667], recall [.5, .5, 1]: recall
//   thresholds 0..0.50 read 1, 0.51..1 read 2/3: AP = (51 + 50 * 2/3) / 101.
// t >= .65: recall stops at .5: AP = 51 / 101 (pycocotools leaves zeros past the last recall).
TEST(CocoEval, PartialCaseMatchesTheHandWorkedNumbers) {
  const std::vector<CocoGroundTruth> g{gt(1, 7, 3, {0, 0, 100, 100}),
                                       gt(2, 7, 3, {200, 0, 100, 100})};
  const std::vector<CocoDetection> d{det(7, 3, {0, 0, 100, 100}, 0.9),
                                     det(7, 3, {400, 400, 100, 100}, 0.8),
                                     det(7, 3, {200, 0, 100, 62}, 0.7)};
  const CocoEvalResult r = coco_evaluate_bbox(g, d);
  const double high = (51 + 50 * 2.0 / 3.0) / 101, low = 51.0 / 101;
  const double ap = (3 * high + 7 * low) / 10;
  const double want[12] = {ap, high, low, -1, -1, ap, 0.5, 0.65, 0.65, -1, -1, 0.65};
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(r.stats[i], want[i], 1e-12) << "stat " << i;
  // pycocotools' summary lines.
  EXPECT_NE(r.summary.find(
                " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.604"),
            std::string::npos)
      << r.summary;
  EXPECT_NE(r.summary.find(
                " Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000"),
            std::string::npos)
      << r.summary;
  EXPECT_NE(r.summary.find("@[ IoU=0.75      | area=   all | maxDets=100 ] = 0.505"),
            std::string::npos)
      << r.summary;
}

TEST(CocoEval, CrowdRegionsAbsorbDetectionsInsideThem) {
  // IoU with a crowd is intersection / detection area: a box inside the crowd matches it fully
  // and is ignored instead of counting as a false positive.
  EXPECT_DOUBLE_EQ(coco_box_iou({10, 10, 10, 10}, {0, 0, 100, 100}, true), 1.0);
  EXPECT_DOUBLE_EQ(coco_box_iou({10, 10, 10, 10}, {0, 0, 100, 100}, false), 0.01);
  std::vector<CocoGroundTruth> g{gt(1, 1, 1, {0, 0, 40, 40}),
                                 gt(2, 1, 1, {100, 100, 200, 200}, true)};
  const std::vector<CocoDetection> d{det(1, 1, {120, 120, 20, 20}, 0.95),
                                     det(1, 1, {0, 0, 40, 40}, 0.9)};
  EXPECT_DOUBLE_EQ(coco_evaluate_bbox(g, d).stats[0], 1.0);
  g[1].iscrowd = false;  // the same box as a plain object: the first detection is now wrong
  EXPECT_LT(coco_evaluate_bbox(g, d).stats[1], 0.9);
}

TEST(CocoEval, MaxDetsCutPerImageAndCategoryAndEmptyCategoriesAreLeftOut) {
  // Image 1: the true box comes 11th by score behind ten misses: AR@10 = 0, AR@100 = 1.
  std::vector<CocoGroundTruth> g{gt(1, 1, 1, {0, 0, 50, 50})};
  std::vector<CocoDetection> d;
  for (int i = 0; i < 10; ++i)
    d.push_back(det(1, 1, {300.0 + 60 * i, 300, 50, 50}, 0.9 - 0.01 * i));
  d.push_back(det(1, 1, {0, 0, 50, 50}, 0.5));
  // Detections of a category without ground truth change nothing (its precision stays -1).
  d.push_back(det(1, 2, {0, 0, 50, 50}, 0.99));
  const CocoEvalResult r = coco_evaluate_bbox(g, d, {}, {1, 2});
  EXPECT_DOUBLE_EQ(r.stats[7], 0.0);
  EXPECT_DOUBLE_EQ(r.stats[8], 1.0);
  const CocoEvalResult only_one = coco_evaluate_bbox(g, {d.begin(), d.end() - 1});
  EXPECT_DOUBLE_EQ(r.stats[0], only_one.stats[0]);
}

}  // namespace
}  // namespace vitrine::evaluation
