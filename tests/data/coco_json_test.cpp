// COCO annotation and result files: the fields detection needs (polygons, list and string RLE,
// crowds), unknown fields skipped, errors that name the file and the entry, and a results round
// trip that COCOeval scores as the ground truth itself.
#include "data/dense/coco_json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "evaluation/coco_eval.h"

namespace vitrine::data {
namespace {
namespace fs = std::filesystem;

// The files these tests write live in one folder, removed when the test program ends.
fs::path temp_dir() {
  static const fs::path dir =
      fs::temp_directory_path() / ("vitrine_coco_" + std::to_string(::getpid()));
  return dir;
}

class RemoveTempDir : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(temp_dir()); }
};
const ::testing::Environment* const kCleanup =
    ::testing::AddGlobalTestEnvironment(new RemoveTempDir);

std::string write_temp(const std::string& name, const std::string& text) {
  fs::create_directories(temp_dir());
  const fs::path path = temp_dir() / name;
  std::ofstream(path) << text;
  return path.string();
}

const char* kInstances = R"({
  "info": {"description": "fixture", "year": 2026},
  "licenses": [],
  "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48, "license": 0},
             {"id": 2, "file_name": "b.jpg", "width": 32, "height": 32}],
  "annotations": [
    {"id": 10, "image_id": 1, "category_id": 3, "bbox": [1.5, 2, 10, 20], "area": 150.5,
     "iscrowd": 0, "segmentation": [[1.5, 2, 11.5, 2, 11.5, 22], [0, 0, 1, 0, 1, 1]]},
    {"id": 11, "image_id": 2, "category_id": 7, "bbox": [0, 0, 32, 32], "area": 900,
     "iscrowd": 1, "segmentation": {"counts": [0, 10, 1014], "size": [32, 32]}},
    {"id": 12, "image_id": 2, "category_id": 3, "bbox": [4, 4, 8, 8], "area": 64, "iscrowd": 0,
     "segmentation": {"size": [32, 32], "counts": "PPYo0"}}],
  "categories": [{"id": 3, "name": "cat", "supercategory": "animal"},
                 {"id": 7, "name": "crowd of people"}]
})";

TEST(CocoJson, ReadsTheFieldsDetectionNeeds) {
  const CocoDataset data = load_coco_json(write_temp("instances.json", kInstances));
  ASSERT_EQ(data.images.size(), 2u);
  EXPECT_EQ(data.images[0].file_name, "a.jpg");
  EXPECT_EQ(data.images[0].height, 48);
  ASSERT_EQ(data.categories.size(), 2u);
  EXPECT_EQ(data.categories[1].name, "crowd of people");
  ASSERT_EQ(data.annotations.size(), 3u);
  const CocoAnnotation& a = data.annotations[0];
  EXPECT_EQ(a.bbox, (std::array<double, 4>{1.5, 2, 10, 20}));
  EXPECT_DOUBLE_EQ(a.area, 150.5);
  ASSERT_EQ(a.segmentation.polygons.size(), 2u);
  EXPECT_EQ(a.segmentation.polygons[0].size(), 6u);
  EXPECT_FALSE(a.segmentation.is_rle());
  const CocoAnnotation& crowd = data.annotations[1];
  EXPECT_TRUE(crowd.iscrowd);
  EXPECT_EQ(crowd.segmentation.rle_counts, (std::vector<int64_t>{0, 10, 1014}));
  EXPECT_EQ(crowd.segmentation.rle_size, (std::array<int64_t, 2>{32, 32}));
  EXPECT_EQ(data.annotations[2].segmentation.rle_string, "PPYo0");
  const auto gt = data.ground_truth();
  EXPECT_EQ(gt[1].iscrowd, true);
  EXPECT_EQ(gt[2].category_id, 3);
}

TEST(CocoJson, ErrorsNameTheFileAndTheEntry) {
  auto message = [](const std::string& text) {
    const std::string path = write_temp("bad.json", text);
    try {
      load_coco_json(path);
    } catch (const CocoFormatError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(R"({"images": [], "annotations": [{"id": 4, "image_id": 1}]})")
                .find("annotation 4 has no bbox"),
            std::string::npos);
  EXPECT_NE(message(R"({"images": [], "annotations": [{"id": 5, "bbox": [1, 2, 3]}]})")
                .find("annotations[0]"),
            std::string::npos);
  EXPECT_NE(message(R"({"images": [], "annotations": [)").find("not valid COCO JSON"),
            std::string::npos);
  EXPECT_NE(message(R"({"images": []})").find("needs 'images' and 'annotations'"),
            std::string::npos);
  EXPECT_THROW(load_coco_json("/no/such/instances.json"), CocoFormatError);
}

TEST(CocoJson, ResultsRoundTripAndScoreAsTheGroundTruth) {
  const CocoDataset data = load_coco_json(write_temp("instances2.json", kInstances));
  std::vector<CocoDetection> dets;
  for (const auto& a : data.annotations) {
    if (a.iscrowd) continue;
    CocoDetection d;
    d.image_id = a.image_id;
    d.category_id = a.category_id;
    d.bbox = a.bbox;
    d.score = 0.5 + 0.001 * static_cast<double>(a.id);
    dets.push_back(d);
  }
  const std::string path = write_temp("results.json", "");
  write_coco_results(path, dets);
  const std::vector<CocoDetection> back = load_coco_results(path);
  ASSERT_EQ(back.size(), dets.size());
  EXPECT_EQ(back[1].bbox, dets[1].bbox);
  EXPECT_NEAR(back[0].score, dets[0].score, 1e-6);
  const evaluation::CocoEvalResult r = evaluation::coco_evaluate_bbox(data.ground_truth(), back);
  EXPECT_DOUBLE_EQ(r.stats[0], 1.0);  // category 7 has only a crowd: left out
  EXPECT_THROW(load_coco_results(write_temp("r2.json", R"([{"image_id": 1, "bbox": [0,0,1,1]}])")),
               CocoFormatError);
}

}  // namespace
}  // namespace vitrine::data

namespace vitrine::data {
namespace {

// The fixture tool writes COCO's real layout; the reader and COCOeval accept it.
TEST(CocoFixture, ToolWritesAValidCocoDataset) {
  const fs::path out =
      fs::temp_directory_path() / ("vitrine_coco_fixture_" + std::to_string(::getpid()));
  fs::remove_all(out);
  const std::string cmd = std::string("'") + VITRINE_MAKE_COCO_FIXTURE + "' --out '" +
                          out.string() + "' --train 10 --val 5 --size 96 > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const CocoDataset data =
      load_coco_json((out / "annotations" / "instances_train2017.json").string());
  ASSERT_EQ(data.images.size(), 10u);
  EXPECT_EQ(data.categories.size(), 3u);
  int crowds = 0;
  for (const auto& a : data.annotations) {
    EXPECT_GE(a.bbox[0], 0);
    EXPECT_LE(a.bbox[0] + a.bbox[2], 96.01);
    EXPECT_GT(a.area, 0);
    EXPECT_LE(a.area, a.bbox[2] * a.bbox[3] + 0.5);  // a shape fills at most its box
    if (a.iscrowd) {
      ++crowds;
      int64_t total = 0;
      for (int64_t c : a.segmentation.rle_counts) total += c;
      EXPECT_EQ(total, 96 * 96);
    } else {
      EXPECT_EQ(a.segmentation.polygons.size(), 1u);
    }
  }
  EXPECT_EQ(crowds, 2);  // every fifth image
  for (const auto& im : data.images) EXPECT_TRUE(fs::exists(out / "train2017" / im.file_name));
  std::vector<CocoDetection> dets;
  for (const auto& a : data.annotations)
    if (!a.iscrowd) dets.push_back({a.image_id, a.category_id, a.bbox, 0.9});
  EXPECT_DOUBLE_EQ(evaluation::coco_evaluate_bbox(data.ground_truth(), dets).stats[0], 1.0);
  fs::remove_all(out);
}

}  // namespace
}  // namespace vitrine::data
