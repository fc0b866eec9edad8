// End-to-end training through the CLI on real images in the real on-disk formats: a
// Fashion-MNIST ImageFolder fixture written by vitrine-make-image-folder.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>
#include <vector>

#include "cli_runner.h"

namespace fs = std::filesystem;
using vitrine::testing::Result;
using vitrine::testing::slurp;

namespace {

const char* kFashionMnist = "/usr/share/datasets/fashion-mnist";

// One fixture per test binary: 100 training and 50 validation images per class, plus a copy
// with an undecodable file in class 0.
class TrainE2E : public vitrine::testing::CliTest {
 protected:
  static void SetUpTestSuite() {
    fixtures_ =
        fs::temp_directory_path() / ("vitrine_train_fixtures_" + std::to_string(::getpid()));
    fs::remove_all(fixtures_);
    if (!fs::exists(kFashionMnist)) return;
    for (const auto& [name, extra] :
         {std::make_pair("fmnist", ""), std::make_pair("corrupt", " --corrupt 1")}) {
      const std::string cmd = std::string("'") + VITRINE_MAKE_FOLDER + "' --out '" +
                              (fixtures_ / name).string() +
                              "' --train-per-class 100 --val-per-class 50" + extra + " > /dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static void TearDownTestSuite() { fs::remove_all(fixtures_); }

  void SetUp() override {
    CliTest::SetUp();
    if (!fs::exists(kFashionMnist)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    // A data config for the fixture, as a user would add one with --config-dir.
    fs::create_directories(dir_ / "conf" / "data");
    std::ofstream(dir_ / "conf" / "data" / "fixture.yaml")
        << "defaults:\n  - fashion_mnist\n  - _self_\n"
        << "format: image_folder\nroot: " << (fixtures_ / "fmnist").string() << "\n"
        << "train_split: train\nval_split: val\nbatch_size: 50\neval_batch_size: 100\n";
  }

  // Flags every fixture run shares.
  std::string train_args(const std::string& extra) const {
    return "train --config-dir conf data=fixture threads=1 trainer.log_every=1 " + extra;
  }

  static fs::path fixtures_;
};
fs::path TrainE2E::fixtures_;

double number_after(const std::string& text, const std::string& key) {
  const std::regex pattern(key + " ([0-9.]+)");
  std::smatch m;
  if (!std::regex_search(text, m, pattern)) return -1;
  return std::stod(m[1]);
}

// The "loss" of every step record in metrics.jsonl, keyed by step.
std::map<int64_t, std::string> step_losses(const fs::path& metrics) {
  std::map<int64_t, std::string> out;
  std::ifstream in(metrics);
  std::string line;
  const std::regex pattern("\"kind\":\"step\",\"epoch\":[0-9]+,\"step\":([0-9]+),\"loss\":([^,]+)");
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, pattern)) out[std::stoll(m[1])] = m[2];
  return out;
}

TEST_F(TrainE2E, LearnsTheFixtureAndWritesItsRunDirectory) {
  // Every epoch evaluates (the default evaluates every 4th): top-k keeps the best three.
  Result r = run(train_args("trainer.epochs=6 trainer.eval_every=1 run.dir=run"));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  // 1000 training images of 10 classes, 6 epochs: well above chance (10%).
  const double top1 = number_after(r.out, "final: loss [0-9.]+, top1");
  EXPECT_GE(top1, 65.0) << r.out;
  for (const char* file :
       {"last.pt", "best.pt", "metrics.jsonl", "summary.csv", ".hydra/config.yaml"})
    EXPECT_TRUE(fs::exists(dir_ / "run" / file)) << file;
  bool events = false;
  for (const auto& entry : fs::directory_iterator(dir_ / "run"))
    events |= entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_TRUE(events);
  // Top-k: three epoch checkpoints kept.
  int kept = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "run"))
    kept += entry.path().filename().string().rfind("checkpoint-", 0) == 0;
  EXPECT_EQ(kept, 3);
  const std::string summary = slurp(dir_ / "run" / "summary.csv");
  EXPECT_EQ(summary.rfind("epoch,train_loss,eval_loss,eval_top1,eval_top5,lr\n", 0), 0u) << summary;
  EXPECT_EQ(std::count(summary.begin(), summary.end(), '\n'), 7);
  // Files count epochs from 1, as the console does (issue 24, item 9): summary rows 1..6, and
  // the best epoch the console names is among the kept checkpoints.
  EXPECT_NE(summary.find("\n1,"), std::string::npos) << summary;
  EXPECT_NE(summary.find("\n6,"), std::string::npos) << summary;
  std::smatch best_epoch;
  ASSERT_TRUE(
      std::regex_search(r.out, best_epoch, std::regex("best top1 [0-9.]+ \\(epoch ([0-9]+)\\)")))
      << r.out;
  EXPECT_TRUE(fs::exists(dir_ / "run" / ("checkpoint-" + best_epoch[1].str() + ".pt")))
      << best_epoch[1];

  // vitrine eval on best.pt reproduces the best epoch's accuracy, in timm's fields.
  Result e =
      run("eval --config-dir conf data=fixture threads=1 checkpoint=run/best.pt --results-file "
          "res.json");
  ASSERT_EQ(e.code, 0) << e.err;
  const double best = number_after(r.out, "best top1");
  EXPECT_NEAR(number_after(e.out, "top1:"), best, 0.0051) << e.out << r.out;
  // Evaluation reports its progress, in eval and after each training epoch (issue 24, item 8):
  // 500 validation images in batches of 100.
  EXPECT_TRUE(std::regex_search(e.out, std::regex("eval 5/5 [0-9]+ img/s, ETA 0m00s"))) << e.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("eval 6/6 5/5 [0-9]+ img/s, ETA"))) << r.out;
  const std::string json = slurp(dir_ / "res.json");
  for (const char* field : {"\"model\": \"dinat_nano\"",
                            "\"top1\":", "\"top1_err\":", "\"top5\":", "\"param_count\": 0.46",
                            "\"img_size\": 28", "\"tta\": \"hflip\"", "\"images_per_second\":"})
    EXPECT_NE(json.find(field), std::string::npos) << field << "\n" << json;
  Result csv =
      run("eval --config-dir conf data=fixture data.tta=none checkpoint=run/last.pt "
          "--results-file res.csv");
  ASSERT_EQ(csv.code, 0) << csv.err;
  const std::string table = slurp(dir_ / "res.csv");
  EXPECT_EQ(table.rfind("model,loss,top1,top1_err,top5,top5_err,param_count", 0), 0u);
  EXPECT_NE(table.find(",interpolation,tta,"), std::string::npos) << table;
  EXPECT_NE(table.find(",bilinear,none,"), std::string::npos) << table;
  EXPECT_EQ(run("eval --config-dir conf data=fixture").code, 2);  // no checkpoint
  EXPECT_EQ(run("eval --config-dir conf data=fixture checkpoint=run/nothing.pt").code, 1);
}

// Each model family learns the fixture: 1000 images, 6 epochs (HaloNet: halonet_nano,
// 73.6% here; chance is 10%).
TEST_F(TrainE2E, HaloNetLearnsTheFixture) {
  Result r = run(train_args("model=halonet_nano trainer.epochs=6 run.dir=halo"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_GE(number_after(r.out, "final: loss [0-9.]+, top1"), 62.0) << r.out;
}

// Agent attention (agent_deit_nano, a small ViT): slower to start, so 20 epochs; 73.2% here.
TEST_F(TrainE2E, AgentDeiTLearnsTheFixture) {
  Result r = run(train_args("model=agent_deit_nano trainer.epochs=20 run.dir=agent"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_GE(number_after(r.out, "final: loss [0-9.]+, top1"), 62.0) << r.out;
}

// DuoFormer (duoformer_nano on images resized to 32): 59.2% after 6 epochs here.
TEST_F(TrainE2E, DuoFormerLearnsTheFixture) {
  Result r = run(train_args(
      "model=duoformer_nano data.img_size=32 data.augment.crop=random_resized_crop "
      "data.augment.scale=[1.0,1.0] data.augment.ratio=[1.0,1.0] trainer.epochs=6 run.dir=duo"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_GE(number_after(r.out, "final: loss [0-9.]+, top1"), 45.0) << r.out;
}

TEST_F(TrainE2E, KilledRunResumesWithTheSameLosses) {
  const std::string args = train_args(
      "trainer.epochs=4 data.augment.mixup=0.8 data.augment.cutmix=1.0 "
      "trainer.ema.enabled=true trainer.ema.decay=0.99 "
      "trainer.batch_split=2 ");
  Result whole = run(args + "run.dir=whole");
  ASSERT_EQ(whole.code, 0) << whole.err;
  const auto expected = step_losses(dir_ / "whole" / "metrics.jsonl");
  ASSERT_EQ(expected.size(), 80u);  // 20 batches x 4 epochs

  // Start the same run, SIGKILL it once its first checkpoint exists, resume with auto.
  const pid_t child = ::fork();
  if (child == 0) {
    ::chdir(dir_.c_str());
    const std::string cmd = "'" VITRINE_BINARY "' " + args + "run.dir=killed > killed.log 2>&1";
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(dir_ / "killed" / "last.pt") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";

  Result resumed = run(args + "run.dir=killed trainer.resume=auto");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  const double after_epoch = number_after(resumed.out, "after epoch");
  ASSERT_GE(after_epoch, 1) << resumed.out;
  ASSERT_LT(after_epoch, 4) << resumed.out;
  const auto got = step_losses(dir_ / "killed" / "metrics.jsonl");
  // Bit-exact: every logged loss (17 significant digits) of the resumed epochs equals the
  // uninterrupted run's, and the log holds each step once.
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [step, loss] : expected) EXPECT_EQ(got.at(step), loss) << "step " << step;
  EXPECT_EQ(slurp(dir_ / "killed" / "summary.csv"), slurp(dir_ / "whole" / "summary.csv"));
}

TEST_F(TrainE2E, CorruptImagesFailOrAreSkippedAsConfigured) {
  const std::string root = "data.root=" + (fixtures_ / "corrupt").string();
  Result failed = run(train_args("trainer.epochs=1 run.dir=a " + root));
  EXPECT_EQ(failed.code, 1);
  EXPECT_NE(failed.err.find("corrupt0.png"), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find("on_bad_image=skip"), std::string::npos) << failed.err;
  Result skipped = run(train_args("trainer.epochs=1 run.dir=b data.on_bad_image=skip " + root));
  EXPECT_EQ(skipped.code, 0) << skipped.err;
  EXPECT_NE(skipped.err.find("skipped unreadable sample"), std::string::npos) << skipped.err;
  EXPECT_NE(skipped.err.find("corrupt0.png"), std::string::npos) << skipped.err;
}

TEST_F(TrainE2E, BadDataSettingsNameTheProblem) {
  // A folder the config names that does not exist is a configuration error (exit 2), and a
  // run that fails on its configuration leaves no run directory behind (issue 24, item 9).
  Result missing = run("train threads=1 run.dir=x", "VITRINE_FASHION_MNIST=/no/such/place");
  EXPECT_EQ(missing.code, 2);
  EXPECT_FALSE(fs::exists(dir_ / "x"));
  EXPECT_NE(missing.err.find("/no/such/place"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("data.root"), std::string::npos) << missing.err;
  Result classes =
      run(train_args("trainer.epochs=1 run.dir=y data.num_classes=5 model.num_classes=5"));
  EXPECT_EQ(classes.code, 1);
  EXPECT_NE(classes.err.find("10 classes"), std::string::npos) << classes.err;
  Result odd =
      run(train_args("trainer.epochs=1 run.dir=z data.batch_size=49 data.augment.mixup=0.8"));
  EXPECT_EQ(odd.code, 2);
  EXPECT_NE(odd.err.find("even"), std::string::npos) << odd.err;
  EXPECT_FALSE(fs::exists(dir_ / "z"));
  Result typo = run(train_args("trainer.epochs=1 run.dir=w +data.augment.rand_augment=rand-m9"));
  EXPECT_EQ(typo.code, 2);
  EXPECT_NE(typo.err.find("rand_augment"), std::string::npos) << typo.err;
  Result split = run(train_args("trainer.epochs=1 run.dir=v trainer.batch_split=0"));
  EXPECT_EQ(split.code, 2);
  EXPECT_NE(split.err.find("trainer.batch_split must be between 1 and 256"), std::string::npos)
      << split.err;
  EXPECT_FALSE(fs::exists(dir_ / "v"));
  Result infinite = run(train_args("trainer.epochs=1 run.dir=u optim.lr=inf"));
  EXPECT_EQ(infinite.code, 2);
  EXPECT_NE(infinite.err.find("optim.lr must be a positive finite number"), std::string::npos)
      << infinite.err;
}

TEST_F(TrainE2E, ImageNetRecipeRunsOnTheFixture) {
  // The paper recipe (RandAugment, Mixup/CutMix, RandomErasing, clipping, accumulation) on an
  // RGB copy of the fixture: one accumulated update, to prove the whole recipe composes.
  const fs::path rgb = dir_ / "rgb";
  const std::string cmd = std::string("'") + VITRINE_MAKE_FOLDER + "' --out '" + rgb.string() +
                          "' --train-per-class 2 --val-per-class 1 --rgb --size 48 > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  Result r = run("train +experiment=dinat_tiny_imagenet data.root=" + rgb.string() +
                 " data.num_classes=10 data.batch_size=2 data.eval_batch_size=5 data.workers=1"
                 " trainer.accum_steps=2 trainer.limit_train_batches=2 trainer.epochs=1"
                 " sched.cooldown_epochs=0 model.name=dinat_mini threads=2 run.dir=recipe");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("RandAugment"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("final:"), std::string::npos) << r.out;
}

}  // namespace

// Super-resolution end to end: CATANet (our small variant) on a DIV2K-layout fixture written by
// vitrine-make-sr-folder (synthetic images, MATLAB-bicubic LR); training lowers the L1 and raises
// the validation PSNR.
class SrTrainE2E : public vitrine::testing::CliTest {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("vitrine_sr_fixture_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    const std::string cmd = std::string("'") + VITRINE_MAKE_SR_FOLDER + "' --out '" +
                            root_.string() +
                            "' --train 16 --valid 4 --size 96 --scale 4 > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static fs::path root_;
};
fs::path SrTrainE2E::root_;

TEST_F(SrTrainE2E, CatanetLowersL1AndRaisesPsnr) {
  Result r =
      run("train model=catanet_nano data=div2k task=super_resolution data.root=" + root_.string() +
          " data.lr_patch=16 data.repeat=8 data.batch_size=8 data.workers=1 threads=1"
          " trainer.epochs=4 trainer.eval_every=1 optim.lr=2e-3 optim.weight_decay=0"
          " sched.warmup_epochs=0");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const std::regex epoch_line(
      "epoch ([0-9]+)/4: train loss ([0-9.]+) \\| eval loss ([0-9.]+) psnr ([0-9.]+) ssim "
      "([0-9.]+)");
  std::map<int, std::vector<double>> epochs;
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), epoch_line), end; it != end; ++it)
    epochs[std::stoi((*it)[1])] = {std::stod((*it)[2]), std::stod((*it)[3]), std::stod((*it)[4]),
                                   std::stod((*it)[5])};
  ASSERT_EQ(epochs.size(), 4u) << r.out;
  EXPECT_LT(epochs[4][0], epochs[1][0]) << r.out;  // train L1
  EXPECT_LT(epochs[4][1], epochs[1][1]) << r.out;  // eval L1
  EXPECT_GT(epochs[4][2], epochs[1][2]) << r.out;  // PSNR (Y, border 4)
  EXPECT_GT(epochs[4][2], 25.0) << r.out;
  EXPECT_NE(r.out.find("SR pairs x4: random 16x16 LR patches"), std::string::npos) << r.out;

  // `vitrine eval` prints the benchmark table (the fixture's validation images as "Set5" and
  // "Set14" in BasicSR's benchmark layout) and saves the SR images.
  const std::smatch run_dir = [&] {
    std::smatch m;
    std::regex_search(r.out, m, std::regex("\\| (/[^\\n]+outputs/[^\\n]+)\\n"));
    return m;
  }();
  ASSERT_FALSE(run_dir.empty()) << r.out;
  const fs::path bench = dir_ / "benchmark";
  for (const char* set : {"Set5", "Set14"}) {
    fs::create_directories(bench / set / "LR_bicubic");
    fs::create_directory_symlink(root_ / "DIV2K_valid_HR", bench / set / "HR");
    fs::create_directory_symlink(root_ / "DIV2K_valid_LR_bicubic" / "X4",
                                 bench / set / "LR_bicubic" / "X4");
  }
  Result ev = run("eval checkpoint=" + (fs::path(run_dir[1].str()) / "last.pt").string() +
                  " data.benchmark_root=" + bench.string() +
                  " 'data.eval_sets=[Set5,Set14]' --save-images sr --results-file table.csv");
  ASSERT_EQ(ev.code, 0) << ev.err << ev.out;
  const std::regex row("Set5 +4 +([0-9.]+) +([0-9.]+)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(ev.out, m, row)) << ev.out;
  EXPECT_NEAR(std::stod(m[1]), epochs[4][2], 0.01) << ev.out;  // the last epoch's validation
  EXPECT_NE(ev.out.find("Set14"), std::string::npos) << ev.out;
  EXPECT_TRUE(fs::exists(dir_ / "sr" / "Set14" / "0801.png"));
  EXPECT_NE(slurp(dir_ / "table.csv").find("catanet_nano,Set14,4,4,"), std::string::npos);

  // Mismatched settings name the problem.
  Result bad_policy =
      run("train model=catanet_nano data=div2k task=super_resolution data.root=" + root_.string() +
          " data.on_bad_image=ignore");
  EXPECT_EQ(bad_policy.code, 2);
  EXPECT_NE(bad_policy.err.find("on_bad_image must be 'error' or 'skip', got 'ignore'"),
            std::string::npos)
      << bad_policy.err;
  Result classes = run("train model=catanet_x4 data=fashion_mnist task=super_resolution");
  EXPECT_EQ(classes.code, 2);
  EXPECT_NE(classes.err.find("needs paired SR data"), std::string::npos) << classes.err;
  // The default trainer's batch splitting cannot serve CATANet: it says so and runs whole
  // batches.
  EXPECT_NE(r.err.find("batch_split=2 ignored: catanet_nano updates its state"), std::string::npos)
      << r.err;
}

namespace {

// The bytes of a file, to show it was not touched.
std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The pid of a process that has exited (so no process has it, for a while).
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

}  // namespace

// Issue 24 (1): a second run into a directory that holds a run is refused, naming both ways
// on; the earlier run's files stay as they were. replace_run moves them aside; resume=auto
// continues and removes the temporary files a killed writer left.
TEST_F(TrainE2E, ARunDirectoryThatHoldsARunIsRefusedUnlessContinuedOrReplaced) {
  const std::string short_run = "trainer.epochs=1 trainer.limit_train_batches=4 run.dir=runs/x ";
  Result first = run(train_args(short_run));
  ASSERT_EQ(first.code, 0) << first.err;
  const std::string best = bytes_of(dir_ / "runs/x/best.pt");
  const std::string metrics = bytes_of(dir_ / "runs/x/metrics.jsonl");

  Result again = run(train_args(short_run + "trainer.limit_train_batches=2"));
  EXPECT_EQ(again.code, 2) << again.out << again.err;
  EXPECT_NE(again.err.find("already holds a run"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("trainer.resume=auto"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("trainer.replace_run=true"), std::string::npos) << again.err;
  EXPECT_EQ(bytes_of(dir_ / "runs/x/best.pt"), best);
  EXPECT_EQ(bytes_of(dir_ / "runs/x/metrics.jsonl"), metrics);

  // resume=auto continues it (nothing to train: epoch 1 of 1 is done) and cleans up after a
  // writer that died mid-write.
  const std::string stale = "last.pt.tmp" + std::to_string(dead_pid());
  std::ofstream(dir_ / "runs/x" / stale) << "half a checkpoint";
  Result resumed = run(train_args(short_run + "trainer.resume=auto"));
  EXPECT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("final: nothing to train: "), std::string::npos) << resumed.out;
  EXPECT_FALSE(fs::exists(dir_ / "runs/x" / stale));
  EXPECT_NE(resumed.out.find("removed " + stale), std::string::npos) << resumed.out;

  Result replaced = run(train_args(short_run + "trainer.replace_run=true"));
  ASSERT_EQ(replaced.code, 0) << replaced.err;
  std::vector<fs::path> aside;
  for (const auto& entry : fs::directory_iterator(dir_ / "runs"))
    if (entry.path().filename().string().rfind("x.replaced-", 0) == 0) aside.push_back(entry);
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_EQ(bytes_of(aside[0] / "best.pt"), best);  // the earlier run, whole
  EXPECT_NE(bytes_of(dir_ / "runs/x/metrics.jsonl"), metrics);
  EXPECT_NE(replaced.out.find("moved to"), std::string::npos) << replaced.out;
}

// Issue 24 (2): a run holds a lock on its directory; another process fails at once, naming
// the holder (here the test holds the lock as a running trainer would).
TEST_F(TrainE2E, ARunDirectoryInUseIsRefusedNamingItsHolder) {
  fs::create_directories(dir_ / "busy");
  const int fd = ::open((dir_ / "busy/.run.lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  const std::string holder = "vitrine pid 4242 on testhost (started now)\n";
  ASSERT_EQ(::write(fd, holder.data(), holder.size()), static_cast<ssize_t>(holder.size()));
  Result r = run(train_args("trainer.epochs=1 trainer.limit_train_batches=2 run.dir=busy"));
  ::close(fd);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("is in use by vitrine pid 4242"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "busy/.hydra"));  // nothing written into it
  // Once the holder is gone, the directory is free.
  Result after = run(train_args("trainer.epochs=1 trainer.limit_train_batches=2 run.dir=busy"));
  EXPECT_EQ(after.code, 0) << after.err;
}

// Issue 24 (5): SIGINT / SIGTERM stop a run between batches with one line saying where and how
// to go on (exit 130 / 143, as a shell reports them); last.pt stays whole and the run continues
// from it.
TEST_F(TrainE2E, SigintAndSigtermStopARunThatThenContinues) {
  for (const int signal : {SIGINT, SIGTERM}) {
    const std::string dir = signal == SIGINT ? "int" : "term";
    const std::string args = train_args("trainer.epochs=6 run.dir=" + dir + " ");
    const pid_t child = ::fork();
    if (child == 0) {
      ::chdir(dir_.c_str());
      const std::string cmd = "'" VITRINE_BINARY "' " + args + "> " + dir + ".log 2>&1";
      ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!fs::exists(dir_ / dir / "last.pt") && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ::kill(child, signal);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << "the run did not stop by itself";
    EXPECT_EQ(WEXITSTATUS(status), 128 + signal);
    const std::string log = slurp(dir_ / (dir + ".log"));
    EXPECT_NE(log.find("Stopped: " + std::string(signal == SIGINT ? "SIGINT" : "SIGTERM") +
                       " during epoch"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("continue with trainer.resume=auto run.dir="), std::string::npos) << log;
    Result resumed = run(args + "trainer.resume=auto");
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    EXPECT_NE(resumed.out.find("resumed from"), std::string::npos) << resumed.out;
    EXPECT_NE(resumed.out.find("epoch 6/6"), std::string::npos) << resumed.out;
  }
}

// Issue 24 (4): model.pretrained=PATH works for every model without `+` (HaloNet's config does
// not list it), and a state dict exports and evaluates without a training checkpoint around it.
TEST_F(TrainE2E, PretrainedWeightsLoadInTrainEvalAndExport) {
  Result first = run(
      train_args("model=halonet_nano trainer.epochs=1 trainer.limit_train_batches=3 run.dir=a"));
  ASSERT_EQ(first.code, 0) << first.err;
  Result tuned =
      run(train_args("model=halonet_nano trainer.epochs=1 trainer.limit_train_batches=1 "
                     "run.dir=b model.pretrained=a/last.pt"));
  ASSERT_EQ(tuned.code, 0) << tuned.err;
  EXPECT_NE(tuned.err.find("pretrained a/last.pt"), std::string::npos) << tuned.err;

  // The same weights evaluated as a checkpoint and as plain pretrained weights agree.
  const std::string data = "eval --config-dir conf data=fixture threads=1 ";
  Result as_checkpoint = run(data + "checkpoint=a/last.pt");
  Result as_pretrained = run(data + "model=halonet_nano model.pretrained=a/last.pt");
  ASSERT_EQ(as_checkpoint.code, 0) << as_checkpoint.err;
  ASSERT_EQ(as_pretrained.code, 0) << as_pretrained.err;
  EXPECT_EQ(number_after(as_pretrained.out, "top1:"), number_after(as_checkpoint.out, "top1:"))
      << as_pretrained.out << as_checkpoint.out;
  EXPECT_NE(as_pretrained.out.find("model: halonet_nano"), std::string::npos);

  Result exported = run("export model=halonet_nano model.pretrained=a/last.pt out=h.pt");
  ASSERT_EQ(exported.code, 0) << exported.err << exported.out;
  EXPECT_EQ(exported.err.find("fresh weights"), std::string::npos) << exported.err;
  EXPECT_TRUE(fs::exists(dir_ / "h.pt"));
  Result both = run("export checkpoint=a/last.pt model.pretrained=a/last.pt");
  EXPECT_EQ(both.code, 2) << both.err;
}
