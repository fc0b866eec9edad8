// Datasets on disk (IDX, ImageFolder, file lists, corrupt files), the sharding sampler, the
// threaded loader's determinism, and Mixup/CutMix targets.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <set>

#include "core/error.h"
#include "data/dataset.h"
#include "data/idx_dataset.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/mixup.h"
#include "data/sample_source.h"
#include "data/sampler.h"
#include "data/transforms/geometry.h"

namespace vitrine::data {
namespace {
namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("vitrine_data_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Every image is filled with its index, so batches reveal which samples they hold.
class CountingDataset : public Dataset {
 public:
  explicit CountingDataset(int64_t n, int64_t bad = -1) : n_(n), bad_(bad) {}
  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return 10; }
  int64_t label(int64_t i) const override { return i % 10; }
  Example get(int64_t i) const override {
    if (i == bad_) throw DataError("unreadable on purpose");
    return {cv::Mat(4, 4, CV_8UC1, cv::Scalar(static_cast<double>(i % 256))), i % 10};
  }
  std::string source(int64_t i) const override { return "sample" + std::to_string(i); }

 private:
  int64_t n_, bad_;
};

// A pipeline whose only randomness is a flip; values stay the raw pixel (mean 0, std 1/255).
std::shared_ptr<const SamplePipeline> identity_pipeline() {
  return std::make_shared<SamplePipeline>(std::vector<ImageTransformPtr>{}, std::vector<float>{0.f},
                                          std::vector<float>{1.f / 255.f}, std::nullopt, 1, 4, 4);
}

std::vector<at::Tensor> all_batches(DataLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<at::Tensor> out;
  Batch batch;
  while (loader.next(batch)) out.push_back(batch.images.clone());
  return out;
}

TEST(Sampler, ShardsAreDisjointAndCoverThePaddedDataset) {
  ShardedSampler s;
  s.dataset_size = 10;
  s.world_size = 3;
  s.seed = 4;
  std::multiset<int64_t> seen;
  for (int r = 0; r < 3; ++r) {
    s.rank = r;
    const auto idx = s.indices(2);
    EXPECT_EQ(idx.size(), 4u);  // ceil(10 / 3)
    seen.insert(idx.begin(), idx.end());
  }
  EXPECT_EQ(seen.size(), 12u);
  for (int64_t i = 0; i < 10; ++i) EXPECT_GE(seen.count(i), 1u) << i;
  s.rank = 0;
  EXPECT_NE(s.indices(1), s.indices(2));  // reshuffled per epoch
  EXPECT_EQ(s.indices(1), s.indices(1));
  s.shuffle = false;
  s.world_size = 1;
  const auto ordered = s.indices(5);
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(ordered[i], i);
}

// Evaluation shards: every index exactly once, no padding, sizes within one of each other.
TEST(Sampler, ExactShardsVisitEverySampleOnce) {
  ShardedSampler s;
  s.dataset_size = 10;
  s.world_size = 3;
  s.shuffle = false;
  s.exact = true;
  std::multiset<int64_t> seen;
  for (int r = 0; r < 3; ++r) {
    s.rank = r;
    const auto idx = s.indices(0);
    EXPECT_EQ(static_cast<int64_t>(idx.size()), s.samples_per_rank());
    EXPECT_EQ(idx.size(), r == 0 ? 4u : 3u);
    seen.insert(idx.begin(), idx.end());
  }
  EXPECT_EQ(seen.size(), 10u);
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(seen.count(i), 1u) << i;
}

TEST(Loader, SameSeedSameBatchesWhateverTheWorkers) {
  auto dataset = std::make_shared<CountingDataset>(103);
  LoaderOptions options;
  options.batch_size = 8;
  options.seed = 17;
  std::vector<std::vector<at::Tensor>> runs;
  for (int workers : {0, 1, 3}) {
    options.workers = workers;
    DataLoader loader(dataset, identity_pipeline(), options);
    EXPECT_EQ(loader.batches_per_epoch(), 12);  // drop_last: 103 / 8
    runs.push_back(all_batches(loader, 1));
  }
  for (size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (size_t b = 0; b < runs[0].size(); ++b) EXPECT_TRUE(runs[r][b].equal(runs[0][b]));
  }
  options.seed = 18;
  DataLoader other(dataset, identity_pipeline(), options);
  const auto different = all_batches(other, 1);
  EXPECT_FALSE(different[0].equal(runs[0][0]));
  // Within an epoch every sample appears at most once.
  std::set<int> values;
  for (const auto& b : runs[0])
    for (int64_t i = 0; i < b.size(0); ++i)
      values.insert(static_cast<int>(std::lround(b[i][0][0][0].item<float>())));
  EXPECT_EQ(values.size(), 96u);
}

// Image i has the value i + 1 in its first column only, so a batch shows which sample each
// row is and whether it was mirrored.
class MarkedColumnDataset : public Dataset {
 public:
  explicit MarkedColumnDataset(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return 10; }
  int64_t label(int64_t i) const override { return i % 10; }
  Example get(int64_t i) const override {
    cv::Mat image(4, 4, CV_8UC1, cv::Scalar(0));
    image.col(0).setTo(cv::Scalar(static_cast<double>(i + 1)));
    return {image, i % 10};
  }
  std::string source(int64_t i) const override { return "sample" + std::to_string(i); }

 private:
  int64_t n_;
};

// sample index -> mirrored, for one epoch of a loader over MarkedColumnDataset.
std::map<int64_t, bool> mirrored_samples(DataLoader& loader, int64_t epoch) {
  std::map<int64_t, bool> out;
  for (const at::Tensor& batch : all_batches(loader, epoch))
    for (int64_t r = 0; r < batch.size(0); ++r) {
      const at::Tensor image = batch[r][0];
      const bool mirrored = image[0][3].item<float>() > 0;
      const int64_t value = std::lround(image[0][mirrored ? 3 : 0].item<float>());
      out[value - 1] = mirrored;
    }
  return out;
}

TEST(Loader, AlternatingFlipsMirrorEachImageInEveryOtherEpoch) {
  auto dataset = std::make_shared<MarkedColumnDataset>(160);
  const auto pipeline = [](bool alternate) {
    return std::make_shared<SamplePipeline>(
        std::vector<ImageTransformPtr>{std::make_shared<HorizontalFlip>(0.5, alternate)},
        std::vector<float>{0.f}, std::vector<float>{1.f / 255.f}, std::nullopt, 1, 4, 4);
  };
  LoaderOptions options;
  options.batch_size = 16;
  options.seed = 5;
  options.workers = 2;
  DataLoader loader(dataset, pipeline(true), options);
  std::vector<std::map<int64_t, bool>> epochs;
  for (int64_t e = 0; e < 4; ++e) epochs.push_back(mirrored_samples(loader, e));
  ASSERT_EQ(epochs[0].size(), 160u);
  int first_mirrored = 0;
  for (const auto& [index, mirrored] : epochs[0]) {
    first_mirrored += mirrored;
    for (size_t e = 1; e < epochs.size(); ++e)
      EXPECT_NE(epochs[e].at(index), epochs[e - 1].at(index))
          << "sample " << index << " epoch " << e;
  }
  EXPECT_GT(first_mirrored, 50);  // a coin per image: about half start mirrored
  EXPECT_LT(first_mirrored, 110);
  // The same schedule whatever the workers; another seed, other coins.
  options.workers = 0;
  DataLoader serial(dataset, pipeline(true), options);
  EXPECT_EQ(mirrored_samples(serial, 2), epochs[2]);
  options.seed = 6;
  DataLoader reseeded(dataset, pipeline(true), options);
  EXPECT_NE(mirrored_samples(reseeded, 0), epochs[0]);
  // Random flips (the default) do not alternate for every image.
  DataLoader random(dataset, pipeline(false), options);
  const auto r0 = mirrored_samples(random, 0), r1 = mirrored_samples(random, 1);
  int alternated = 0;
  for (const auto& [index, mirrored] : r0) alternated += r1.at(index) != mirrored;
  EXPECT_LT(alternated, 130);
  // Alternation is defined for p = 0.5 only, and needs the loader's sample identity.
  EXPECT_THROW(HorizontalFlip(0.3, true), ConfigError);
  Rng bare(1);
  EXPECT_THROW(HorizontalFlip(0.5, true).apply(cv::Mat(4, 4, CV_8UC1, cv::Scalar(0)), bare),
               std::logic_error);
}

TEST(Loader, EvalOrderKeepsEveryoneAndStopsAtTheEnd) {
  auto dataset = std::make_shared<CountingDataset>(21);
  LoaderOptions options;
  options.batch_size = 8;
  options.shuffle = false;
  options.drop_last = false;
  options.workers = 2;
  DataLoader loader(dataset, identity_pipeline(), options);
  const auto batches = all_batches(loader, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].size(0), 5);
  EXPECT_FLOAT_EQ(batches[2][4][0][0][0].item<float>(), 20.0f);
  // A second epoch after a full one, and an abandoned epoch followed by a new one, both work.
  EXPECT_EQ(all_batches(loader, 1).size(), 3u);
  loader.start_epoch(2);
  Batch first;
  ASSERT_TRUE(loader.next(first));
  EXPECT_EQ(all_batches(loader, 3).size(), 3u);
}

TEST(Loader, BadSamplesFailWithTheirSourceOrAreSkipped) {
  auto dataset = std::make_shared<CountingDataset>(20, /*bad=*/5);
  LoaderOptions options;
  options.batch_size = 4;
  options.shuffle = false;
  options.workers = 2;
  {
    DataLoader loader(dataset, identity_pipeline(), options);
    loader.start_epoch(0);
    Batch batch;
    ASSERT_TRUE(loader.next(batch));
    try {
      loader.next(batch);
      FAIL() << "expected a DataError";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("sample5"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("unreadable on purpose"), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("on_bad_image=skip"), std::string::npos);
    }
  }
  options.skip_bad_samples = true;
  DataLoader loader(dataset, identity_pipeline(), options);
  std::vector<std::string> reports;
  std::mutex m;
  loader.on_skip([&](const std::string& message) {
    std::lock_guard<std::mutex> lock(m);
    reports.push_back(message);
  });
  const auto batches = all_batches(loader, 0);
  ASSERT_EQ(batches.size(), 5u);
  EXPECT_EQ(batches[1].size(0), 3);  // sample 5 left out
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_NE(reports[0].find("sample5"), std::string::npos);
}

// Samples of different sizes, as detection and segmentation produce them.
class RaggedSource : public SampleSource {
 public:
  explicit RaggedSource(bool pads) : pads_(pads) {}
  int64_t size() const override { return 3; }
  std::string source(int64_t index) const override {
    return "ragged[" + std::to_string(index) + "]";
  }
  Sample load(int64_t index, Rng&) const override {
    Sample s;
    s.image = at::full({1, 2 + index, 4 - index}, static_cast<double>(index + 1));
    s.target = at::full({index, 5}, static_cast<double>(index));
    s.meta = at::tensor(std::vector<double>{static_cast<double>(index)}, at::kDouble);
    s.label = index;
    return s;
  }
  std::string describe() const override { return "ragged"; }
  bool pads_batches() const override { return pads_; }
  double target_pad_value() const override { return -1.0; }

 private:
  bool pads_;
};

TEST(Loader, PadsSamplesOfDifferentSizesWhenTheSourceAsks) {
  LoaderOptions o;
  o.batch_size = 3;
  o.shuffle = false;
  o.drop_last = false;
  o.workers = 0;
  DataLoader loader(std::make_shared<RaggedSource>(true), o);
  loader.start_epoch(0);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  ASSERT_EQ(b.images.sizes(), (std::vector<int64_t>{3, 1, 4, 4}));
  // Sample 2 is 4 x 2: zeros to its right, its own values inside.
  EXPECT_EQ(b.images[2][0][3][1].item<float>(), 3.0f);
  EXPECT_EQ(b.images[2][0][3][2].item<float>(), 0.0f);
  EXPECT_EQ(b.images[0][0][2][0].item<float>(), 0.0f);  // sample 0 is 2 x 4
  ASSERT_EQ(b.targets.sizes(), (std::vector<int64_t>{3, 2, 5}));
  EXPECT_EQ(b.targets[0][0][0].item<float>(), -1.0f);  // no rows: all padding
  EXPECT_EQ(b.targets[1][0][4].item<float>(), 1.0f);
  EXPECT_EQ(b.targets[1][1][4].item<float>(), -1.0f);
  EXPECT_EQ(b.meta.sizes(), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(b.meta[2][0].item<double>(), 2.0);

  DataLoader strict(std::make_shared<RaggedSource>(false), o);
  strict.start_epoch(0);
  EXPECT_THROW(strict.next(b), DataError);
}

TEST(Loader, RejectsADatasetSmallerThanABatch) {
  LoaderOptions options;
  options.batch_size = 64;
  EXPECT_THROW(DataLoader(std::make_shared<CountingDataset>(10), identity_pipeline(), options),
               ConfigError);
}

TEST(Mixup, TargetsSumToOneAndCarryTheSmoothing) {
  const at::Tensor labels = at::tensor({0, 3, 3, 9}, at::kLong);
  const at::Tensor plain = mixup_target(labels, 10, 1.0, 0.1);
  EXPECT_TRUE(plain.sum(1).allclose(at::ones({4})));
  EXPECT_FLOAT_EQ(plain[0][0].item<float>(), 0.91f);  // 1 - 0.1 + 0.01
  EXPECT_FLOAT_EQ(plain[0][1].item<float>(), 0.01f);
  const at::Tensor mixed = mixup_target(labels, 10, 0.7, 0.0);
  EXPECT_FLOAT_EQ(mixed[0][0].item<float>(), 0.7f);
  EXPECT_FLOAT_EQ(mixed[0][9].item<float>(), 0.3f);  // mirrored partner: label 9
}

TEST(Mixup, MixesImagesWithTheirMirrorAndCutMixBoxesMatchLambda) {
  const at::Tensor images = at::rand({6, 2, 8, 8});
  const at::Tensor labels = at::tensor({0, 1, 2, 3, 4, 5}, at::kLong);
  MixupOptions o;
  o.mixup_alpha = 0.8;
  o.cutmix_alpha = 0.0;
  o.num_classes = 6;
  o.label_smoothing = 0.0;
  Rng rng(3);
  const MixedBatch m = Mixup(o).apply(images, labels, rng);
  EXPECT_FALSE(m.cutmix);
  EXPECT_TRUE(m.images.allclose(images * m.lam + images.flip(0) * (1 - m.lam), 1e-5, 1e-6));
  EXPECT_TRUE(m.targets.sum(1).allclose(at::ones({6})));
  EXPECT_NEAR(m.targets[0][0].item<double>(), m.lam, 1e-6);

  o.mixup_alpha = 0.0;
  o.cutmix_alpha = 1.0;
  int cut = 0;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Rng r(seed);
    const MixedBatch c = Mixup(o).apply(images, labels, r);
    EXPECT_TRUE(c.cutmix);
    // Pixels taken from the mirror: exactly (1 - lam) of the image (lam corrected to the box).
    const at::Tensor from_mirror = c.images.ne(images).any(1)[0].to(at::kFloat).mean();
    EXPECT_NEAR(from_mirror.item<double>(), 1.0 - c.lam, 1e-6);
    EXPECT_TRUE(c.targets.sum(1).allclose(at::ones({6})));
    cut += c.lam < 1.0;
  }
  EXPECT_GT(cut, 20);
  EXPECT_THROW(Mixup(o).apply(images.narrow(0, 0, 5), labels.narrow(0, 0, 5), rng),
               std::invalid_argument);
}

void write_gz(const fs::path& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> idx_header(uint32_t magic, std::vector<uint32_t> dims) {
  std::vector<uint8_t> out;
  for (uint32_t v : std::vector<uint32_t>{magic}) {
    (void)v;
  }
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  return out;
}

TEST(IdxDatasetTest, ReadsGzippedFilesAndRejectsBrokenOnes) {
  const fs::path dir = temp_dir("idx");
  std::vector<uint8_t> images = idx_header(0x803, {3, 2, 2});
  for (int i = 0; i < 12; ++i) images.push_back(static_cast<uint8_t>(i * 10));
  std::vector<uint8_t> labels = idx_header(0x801, {3});
  labels.insert(labels.end(), {7, 0, 2});
  write_gz(dir / "train-images-idx3-ubyte.gz", images);
  write_gz(dir / "train-labels-idx1-ubyte.gz", labels);
  const IdxDataset ds(dir.string(), "train");
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.num_classes(), 8);
  const Example e = ds.get(1);
  EXPECT_EQ(e.label, 0);
  EXPECT_EQ(e.image.at<uint8_t>(1, 1), 70);
  EXPECT_THROW(IdxDataset(dir.string(), "test"), DataError);  // no t10k files

  // Truncated image data: header says 3 images of 2x2, 11 bytes follow.
  images.pop_back();
  write_gz(dir / "train-images-idx3-ubyte.gz", images);
  try {
    IdxDataset broken(dir.string(), "train");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("11 data bytes"), std::string::npos) << e.what();
  }
  // Not gzip at all but named .gz with garbage: the magic check names the file.
  std::ofstream(dir / "train-images-idx3-ubyte.gz", std::ios::binary) << "garbage!";
  EXPECT_THROW(IdxDataset(dir.string(), "train"), DataError);
  fs::remove_all(dir);
}

TEST(IdxDatasetTest, ReadsDebiansFashionMnist) {
  const std::string root = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(root)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const IdxDataset test(root, "test", fashion_mnist_classes());
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(test.num_classes(), 10);
  EXPECT_EQ(test.get(0).image.rows, 28);
  // The first test image of Fashion-MNIST is an ankle boot (label 9).
  EXPECT_EQ(test.label(0), 9);
}

TEST(ImageFolder, SortsClassesAndFilesAndDecodes) {
  const fs::path dir = temp_dir("folder");
  for (const std::string cls : {"zebra", "ant"}) {
    fs::create_directories(dir / cls / "nested");
    for (int i : {2, 1})
      cv::imwrite((dir / cls / (std::to_string(i) + ".png")).string(),
                  cv::Mat(3, 5, CV_8UC3, cv::Scalar(10 * i, 20, 30)));
  }
  cv::imwrite((dir / "zebra" / "nested" / "0.jpg").string(),
              cv::Mat(4, 4, CV_8UC3, cv::Scalar(1, 2, 3)));
  std::ofstream(dir / "ant" / "notes.txt") << "ignored";
  const ImageFolderDataset ds(dir.string(), 3);
  ASSERT_EQ(ds.classes(), (std::vector<std::string>{"ant", "zebra"}));
  ASSERT_EQ(ds.size(), 5);
  EXPECT_EQ(ds.label(0), 0);
  EXPECT_EQ(ds.label(4), 1);
  EXPECT_NE(ds.source(0).find("ant/1.png"), std::string::npos);
  const Example e = ds.get(1);  // ant/2.png: BGR (20, 20, 30) written -> RGB (30, 20, 20)
  EXPECT_EQ(e.image.at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 20));
  EXPECT_EQ(ds.get(0).image.cols, 5);

  std::ofstream(dir / "ant" / "broken.png", std::ios::binary) << "not a png";
  const ImageFolderDataset with_bad(dir.string(), 1);
  try {
    with_bad.get(0);  // ant/1.png decodes; broken.png sorts first? check by source
    for (int64_t i = 0; i < with_bad.size(); ++i) with_bad.get(i);
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.png"), std::string::npos) << e.what();
  }
  fs::create_directories(dir / "empty_class");
  EXPECT_THROW(ImageFolderDataset(dir.string(), 3), DataError);
  EXPECT_THROW(ImageFolderDataset((dir / "missing").string(), 3), DataError);
  fs::remove_all(dir);
}

TEST(FileList, ReadsCsvWithHeaderAndSpaceSeparatedLines) {
  const fs::path dir = temp_dir("list");
  cv::imwrite((dir / "a.png").string(), cv::Mat(2, 2, CV_8UC1, cv::Scalar(5)));
  std::ofstream(dir / "list.csv") << "path,label\na.png,3\n# comment\n\na.png 1\n";
  const FileListDataset ds((dir / "list.csv").string(), dir.string(), 1, 0);
  EXPECT_EQ(ds.size(), 2);
  EXPECT_EQ(ds.num_classes(), 4);
  EXPECT_EQ(ds.label(1), 1);
  EXPECT_EQ(ds.get(0).image.at<uint8_t>(0, 0), 5);
  std::ofstream(dir / "bad.csv") << "a.png,3\na.png,x\n";
  try {
    FileListDataset bad((dir / "bad.csv").string(), dir.string(), 1, 0);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(FileListDataset((dir / "list.csv").string(), dir.string(), 1, 2), DataError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vitrine::data

namespace vitrine::data {
namespace {

// Samples of two sizes (a source with no padding): a batch cannot hold both.
class TwoSizes : public SampleSource {
 public:
  int64_t size() const override { return 4; }
  std::string source(int64_t i) const override { return "img" + std::to_string(i); }
  Sample load(int64_t i, Rng&) const override {
    Sample s;
    s.image = at::zeros({1, 4 + i % 2, 4});
    return s;
  }
  std::string describe() const override { return "two sizes"; }
};

// Issue 24 (9): a sample that does not fit the config names the config's fix, not
// data.on_bad_image=skip (which would skip every sample).
TEST(DataLoader, SamplesThatDoNotFitTheConfigNameTheFixNotSkipping) {
  LoaderOptions options;
  options.batch_size = 2;
  options.shuffle = false;
  DataLoader loader(std::make_shared<TwoSizes>(), options);
  loader.start_epoch(0);
  Batch batch;
  try {
    loader.next(batch);
    FAIL() << "a batch of two sizes was stacked";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("img1: its input is 5x4 but the batch's first is 4x4"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("need batch size 1"), std::string::npos) << message;
    EXPECT_EQ(message.find("on_bad_image"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace vitrine::data
