// Running jobs: output directories, the .hydra record, multirun sweeps, --config-dir.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/job.h"
#include "config/path.h"
#include "config/yaml_io.h"
#include "core/error.h"

namespace fs = std::filesystem;
using namespace vitrine;
using namespace vitrine::config;

namespace {

class JobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("vitrine_job_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "conf" / "model");
    write(root_ / "conf" / "app.yaml",
          "defaults:\n  - model: a\n  - _self_\nlr: 0.1\nseed: 0\nname: run_${seed}\n");
    write(root_ / "conf" / "model" / "a.yaml", "width: 1\n");
    write(root_ / "conf" / "model" / "b.yaml", "width: 2\n");
  }
  void TearDown() override { fs::remove_all(root_); }

  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  JobRequest request(std::vector<std::string> overrides) const {
    JobRequest r;
    r.config_name = "app";
    r.config_dirs = {(root_ / "conf").string()};
    r.job_name = "train";
    r.overrides = std::move(overrides);
    return r;
  }

  fs::path root_;
};

}  // namespace

TEST_F(JobTest, RunWritesResolvedConfigAndOverridesIntoTheRunDir) {
  const fs::path dir = root_ / "out" / "run1";
  std::vector<JobContext> seen;
  auto dirs = run_jobs(request({"seed=5", "hydra.run.dir=" + dir.string()}),
                       [&](const JobContext& ctx) { seen.push_back(ctx); });
  ASSERT_EQ(dirs.size(), 1u);
  EXPECT_EQ(fs::path(dirs[0]), dir);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].config.find("name")->as_string(), "run_5");  // resolved for the job
  EXPECT_EQ(seen[0].config.find("hydra"), nullptr);

  Node saved = load_yaml(read(dir / ".hydra" / "config.yaml"), "saved");
  EXPECT_EQ(saved, seen[0].config);
  Node overrides = load_yaml(read(dir / ".hydra" / "overrides.yaml"), "saved");
  EXPECT_EQ(overrides, load_yaml("[seed=5, 'hydra.run.dir=" + dir.string() + "']", "e"));
  Node hydra = load_yaml(read(dir / ".hydra" / "hydra.yaml"), "saved");
  EXPECT_EQ(find_path(hydra, split_path("runtime.output_dir"))->as_string(), dir.string());
  EXPECT_EQ(find_path(hydra, split_path("runtime.choices.model"))->as_string(), "a");
}

TEST_F(JobTest, DefaultRunDirIsDatedUnderOutputs) {
  const fs::path cwd = fs::current_path();
  fs::current_path(root_);
  std::string dir;
  run_jobs(request({}), [&](const JobContext& ctx) { dir = ctx.output_dir; });
  fs::current_path(cwd);
  const fs::path rel = fs::relative(dir, root_);
  auto it = rel.begin();
  EXPECT_EQ(it->string(), "outputs");
  ++it;
  EXPECT_EQ(it->string().size(), 10u);  // YYYY-MM-DD
  ++it;
  EXPECT_EQ(it->string().size(), 8u);  // HH-MM-SS
  EXPECT_TRUE(fs::exists(fs::path(dir) / ".hydra" / "config.yaml"));
}

TEST_F(JobTest, MultirunSweepsTheProductInOrder) {
  const fs::path sweep = root_ / "sweep";
  std::vector<std::pair<int64_t, double>> seen;
  std::vector<int> nums;
  auto dirs = run_jobs(
      [&] {
        JobRequest r = request({"model=a,b", "lr=range(1,4)", "hydra.sweep.dir=" + sweep.string()});
        r.multirun = true;
        return r;
      }(),
      [&](const JobContext& ctx) {
        seen.emplace_back(find_path(ctx.config, {"model", "width"})->as_int(),
                          static_cast<double>(ctx.config.find("lr")->as_int()));
        nums.push_back(ctx.job_num);
      });
  ASSERT_EQ(dirs.size(), 6u);
  // The first override varies slowest.
  std::vector<std::pair<int64_t, double>> expected{{1, 1}, {1, 2}, {1, 3}, {2, 1}, {2, 2}, {2, 3}};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(nums, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(fs::path(dirs[i]), sweep / std::to_string(i));
    EXPECT_TRUE(fs::exists(sweep / std::to_string(i) / ".hydra" / "overrides.yaml"));
  }
  EXPECT_TRUE(fs::exists(sweep / "multirun.yaml"));
  Node last = load_yaml(read(sweep / "5" / ".hydra" / "overrides.yaml"), "o");
  EXPECT_EQ(last.as_list()[0].as_string(), "model=b");
  EXPECT_EQ(last.as_list()[1].as_string(), "lr=3");
}

TEST_F(JobTest, BadSweepPointFailsBeforeAnyJobRuns) {
  int runs = 0;
  JobRequest r = request({"seed=1,2", "hydra.sweep.dir=" + (root_ / "s").string()});
  r.multirun = true;
  r.overrides.push_back("model=a,nope");
  EXPECT_THROW(run_jobs(r, [&](const JobContext&) { ++runs; }), ConfigError);
  EXPECT_EQ(runs, 0);
}

TEST_F(JobTest, ConfigDirMustExist) {
  JobRequest r = request({});
  r.config_dirs = {(root_ / "missing").string()};
  EXPECT_THROW(run_jobs(r, [](const JobContext&) {}), ConfigError);
}

TEST_F(JobTest, SweepExpansionKeepsPlainOverrides) {
  auto points = expand_sweep(parse_overrides({"a=1", "b=x,y", "c=[1,2]"}));
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0][0].text, "a=1");
  EXPECT_EQ(points[0][1].text, "b=x");
  EXPECT_EQ(points[1][1].text, "b=y");
  EXPECT_EQ(points[1][2].text, "c=[1,2]");
}
