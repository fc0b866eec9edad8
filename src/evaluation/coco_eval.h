// COCO bounding-box evaluation exactly as pycocotools' COCOeval (iouType 'bbox', useCats):
//   IoU thresholds np.linspace(.5, .95, 10), recall thresholds np.linspace(0, 1, 101),
//   maxDets 1/10/100, areas all/small/medium/large ([0, 1e10], [0, 32^2], [32^2, 96^2],
//   [96^2, 1e10]).
//   Per image and category: detections sorted by score (stable) and cut at maxDets[-1] for the
//   IoUs, at maxDet for matching; a ground truth is ignored when it is a crowd (the annotation's
//   own `ignore` flag is overwritten by iscrowd, as pycocotools does) or its `area` field (not
//   the box) lies outside the area range; greedy matching per threshold prefers unmatched
//   non-ignored ground truth, crowds can match many detections, IoU with a crowd region is
//   intersection / detection area; unmatched detections outside the area range are ignored.
//   Accumulation: per category, area and maxDet, detections of all images sorted by score
//   (stable), precision made monotone, sampled at the recall thresholds (left search; zero past
//   the last recall); categories without non-ignored ground truth stay -1 and are left out of
//   the means. Boxes are [x, y, w, h] without +1.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dense/coco_json.h"

namespace vitrine::evaluation {

using data::CocoDetection;
using data::CocoGroundTruth;

struct CocoEvalResult {
  std::array<double, 12> stats{};  // the summary in pycocotools' order
  std::string summary;             // the 12 lines as pycocotools prints them
};

// IoU of boxes [x, y, w, h] as pycocotools' maskUtils.iou: for a crowd ground truth the
// union is the detection's area.
double coco_box_iou(const std::array<double, 4>& dt, const std::array<double, 4>& gt, bool crowd);

// Evaluates every image that has ground truth or detections, over every category that appears
// in the ground truth (pycocotools: the dataset's categories; pass `category_ids` to give them
// explicitly, `image_ids` likewise).
CocoEvalResult coco_evaluate_bbox(const std::vector<CocoGroundTruth>& ground_truth,
                                  const std::vector<CocoDetection>& detections,
                                  std::vector<int64_t> image_ids = {},
                                  std::vector<int64_t> category_ids = {});

}  // namespace vitrine::evaluation
