// summary.csv keeps one column set for the whole run: epochs that do not evaluate
// (trainer.eval_every > 1) leave the eval_* cells empty, also when the first evaluation comes
// after them and when a resumed run drops the epochs past its checkpoint.
#include "train/run_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace vitrine::train {
namespace {

namespace fs = std::filesystem;

class RunLogSummary : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vitrine_run_log_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string summary() const {
    std::ifstream in(dir_ / "summary.csv");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  fs::path dir_;
};

const MetricList kEval{{"loss", 0.25}, {"top1", 91.5}};

TEST_F(RunLogSummary, EpochsWithoutEvaluationLeaveTheEvalCellsEmpty) {
  RunLog log(dir_.string(), 0, false);
  log.log_epoch(0, {{"loss", 0.5}}, {}, 0.125, {});
  log.log_epoch(1, {{"loss", 0.375}}, kEval, 0.0625, {});
  log.log_epoch(2, {{"loss", 0.25}}, {}, 0.03125, {});
  EXPECT_EQ(summary(),
            "epoch,train_loss,eval_loss,eval_top1,lr\n"
            "1,0.5,,,0.125\n"
            "2,0.375,0.25,91.5,0.0625\n"
            "3,0.25,,,0.03125\n");
}

TEST_F(RunLogSummary, EvaluatedFirstEpochKeepsTimmsColumns) {
  RunLog log(dir_.string(), 0, false);
  log.log_epoch(0, {{"loss", 0.5}}, kEval, 0.125, {});
  log.log_epoch(1, {{"loss", 0.375}}, {}, 0.0625, {});
  EXPECT_EQ(summary(),
            "epoch,train_loss,eval_loss,eval_top1,lr\n"
            "1,0.5,0.25,91.5,0.125\n"
            "2,0.375,,,0.0625\n");
}

TEST_F(RunLogSummary, ResumeDropsLaterEpochsAndKeepsTheColumns) {
  {
    RunLog log(dir_.string(), 0, false);
    log.log_epoch(0, {{"loss", 0.5}}, {}, 0.125, {});
    log.log_epoch(1, {{"loss", 0.375}}, kEval, 0.0625, {});
    log.log_epoch(2, {{"loss", 0.25}}, {}, 0.03125, {});
  }
  RunLog resumed(dir_.string(), 2, false);  // the checkpoint holds epochs 1-2
  resumed.log_epoch(2, {{"loss", 0.125}}, kEval, 0.03125, {});
  EXPECT_EQ(summary(),
            "epoch,train_loss,eval_loss,eval_top1,lr\n"
            "1,0.5,,,0.125\n"
            "2,0.375,0.25,91.5,0.0625\n"
            "3,0.125,0.25,91.5,0.03125\n");
}

}  // namespace
}  // namespace vitrine::train
