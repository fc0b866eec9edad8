// `vitrine export` as a user runs it: a trained checkpoint to TorchScript in both flavours,
// classified by the deployment example (vitrine-classify: libtorch and OpenCV only, the ops
// library dlopen'ed on request) in a fresh process, and the errors for bad requests.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace fs = std::filesystem;
using vitrine::testing::CliTest;
using vitrine::testing::Result;

namespace {

class ExportE2E : public CliTest {};

std::vector<std::pair<int, double>> top_classes(const std::string& text) {
  std::vector<std::pair<int, double>> out;
  const std::regex line("class ([0-9]+): ([0-9.]+)");
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it)
    out.emplace_back(std::stoi((*it)[1]), std::stod((*it)[2]));
  return out;
}

TEST_F(ExportE2E, TrainedCheckpointExportsAndClassifiesInAFreshProcess) {
  // A briefly trained default model (DiNAT-nano: dilation and relative positional bias).
  Result train =
      run("train trainer.epochs=1 trainer.limit_train_batches=4 trainer.batch_split=1"
          " hydra.run.dir=run");
  ASSERT_EQ(train.code, 0) << train.err << train.out;
  const std::string checkpoint = (dir_ / "run" / "last.pt").string();

  Result custom = run("export checkpoint=" + checkpoint + " out=custom.pt");
  ASSERT_EQ(custom.code, 0) << custom.err << custom.out;
  EXPECT_NE(custom.out.find("exported dinat_nano (full, vitrine custom ops) to custom.pt: input "
                            "1x1x28x28"),
            std::string::npos)
      << custom.out;
  EXPECT_NE(custom.out.find("check at batch 2: outputs [2, 10], max |exported - eager| ="),
            std::string::npos)
      << custom.out;
  Result portable = run("export checkpoint=" + checkpoint + " out=portable.pt portable=true");
  ASSERT_EQ(portable.code, 0) << portable.err << portable.out;
  Result backbone = run("export checkpoint=" + checkpoint + " out=backbone.pt part=backbone");
  ASSERT_EQ(backbone.code, 0) << backbone.err << backbone.out;
  EXPECT_NE(backbone.out.find("outputs [1, 32, 7, 7], [1, 64, 4, 4], [1, 128, 2, 2]"),
            std::string::npos)
      << backbone.out;

  const std::string folder = (dir_ / "images").string();
  ASSERT_EQ(std::system(("'" + std::string(VITRINE_MAKE_FOLDER) + "' --out '" + folder +
                         "' --train-per-class 1 --val-per-class 1 > /dev/null")
                            .c_str()),
            0);
  const fs::path sneakers = dir_ / "images" / "val" / "07_Sneaker";
  ASSERT_TRUE(fs::is_directory(sneakers));
  const std::string image = fs::directory_iterator(sneakers)->path().string();
  const std::string args = " --image '" + image + "' --size 28 --grey --mean 0.286 --std 0.353";
  Result with_ops =
      run_program(VITRINE_CLASSIFY,
                  "--model custom.pt --ops '" + std::string(VITRINE_OPS_LIBRARY) + "'" + args);
  ASSERT_EQ(with_ops.code, 0) << with_ops.err;
  Result stock = run_program(VITRINE_CLASSIFY, "--model portable.pt" + args);
  ASSERT_EQ(stock.code, 0) << stock.err;
  const auto a = top_classes(with_ops.out), b = top_classes(stock.out);
  ASSERT_EQ(a.size(), 5u) << with_ops.out;
  ASSERT_EQ(b.size(), 5u) << stock.out;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_NEAR(a[i].second, b[i].second, 1e-4);
  }
  double total = 0;
  for (const auto& [c, p] : a) total += p;
  EXPECT_LE(total, 1.0 + 1e-6);
  EXPECT_GT(a[0].second, a[4].second);

  // Without the ops library the custom-op file says what it needs; a pyramid is no logits.
  Result missing = run_program(VITRINE_CLASSIFY, "--model custom.pt" + args);
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("it uses the vitrine custom ops: pass --ops"), std::string::npos)
      << missing.err;
  Result pyramid = run_program(VITRINE_CLASSIFY, "--model backbone.pt --ops '" +
                                                     std::string(VITRINE_OPS_LIBRARY) + "'" + args);
  EXPECT_EQ(pyramid.code, 1);
  EXPECT_NE(pyramid.err.find("exported with part=backbone?"), std::string::npos) << pyramid.err;

  // Bad requests name the problem.
  Result other = run("export checkpoint=" + checkpoint + " model=resnet18");
  EXPECT_EQ(other.code, 2);
  EXPECT_NE(other.err.find("was written for model 'dinat_nano', not 'resnet18'"), std::string::npos)
      << other.err;
  Result unknown = run("export model=dinat_nan0");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("Unknown model 'dinat_nan0'"), std::string::npos) << unknown.err;
  Result shape = run("export checkpoint=" + checkpoint + " input=1,3,28,28");
  EXPECT_EQ(shape.code, 2);
  EXPECT_NE(shape.err.find("dinat_nano cannot run on input 1,3,28,28"), std::string::npos)
      << shape.err;
  Result key = run("export checkpoint=" + checkpoint + " output=x.pt");
  EXPECT_EQ(key.code, 2);
  EXPECT_NE(key.err.find("unknown argument 'output'"), std::string::npos) << key.err;
  Result no_file = run("export checkpoint=missing.pt");
  EXPECT_NE(no_file.code, 0);
  EXPECT_NE(no_file.err.find("missing.pt"), std::string::npos) << no_file.err;
}

}  // namespace
