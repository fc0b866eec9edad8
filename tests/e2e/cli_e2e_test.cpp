// End-to-end: the `vitrine` binary as a user runs it — exit codes, messages, output.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace fs = std::filesystem;
using Cli = vitrine::testing::CliTest;
using vitrine::testing::Result;

TEST_F(Cli, HelpListsEverySubcommand) {
  Result r = run("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* sub : {"train", "eval", "export", "launch", "bench", "models", "config"})
    EXPECT_NE(r.out.find(sub), std::string::npos) << sub << "\n" << r.out;
}

TEST_F(Cli, EachSubcommandHasHelp) {
  for (const char* sub : {"train", "eval", "export", "launch", "bench", "models", "config"}) {
    Result r = run(std::string(sub) + " --help");
    EXPECT_EQ(r.code, 0) << sub << r.err;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub;
  }
}

TEST_F(Cli, NoSubcommandOrUnknownFlagIsAUsageError) {
  EXPECT_EQ(run("").code, 2);
  Result r = run("config --frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("frobnicate"), std::string::npos) << r.err;
  EXPECT_EQ(run("nosuchcommand").code, 2);
}

TEST_F(Cli, AgentRecipesCompose) {
  for (const char* name : {"agent_swin_t", "agent_pvt_t"}) {
    Result r = run(std::string("config +experiment=") + name + "_imagenet data.root=/nowhere");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("name: ") + name), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("auto_augment: rand-m9-mstd0.5-inc1"), std::string::npos) << r.out;
  }
}

TEST_F(Cli, BenchOpsRejectsUnknownDevicesAndDtypes) {
  Result r = run("bench ops --device tpu");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--device must be cpu or cuda, got 'tpu'"), std::string::npos) << r.err;
  r = run("bench ops --device cpu --dtype float16");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("float16/bfloat16 with --device cuda"), std::string::npos) << r.err;
}

TEST_F(Cli, ConfigPrintsTheComposedTreeWithOverrides) {
  Result r = run("config model=dinat_tiny trainer.epochs=3 +trainer.note=hi");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("name: dinat_tiny"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epochs: 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("note: hi"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("hydra:"), std::string::npos) << "job config excludes hydra";
  // Unresolved by default (as Hydra's --cfg job), resolved with --resolve.
  EXPECT_NE(r.out.find("${data.num_classes}"), std::string::npos) << r.out;
  Result resolved = run("config --resolve");
  EXPECT_NE(resolved.out.find("num_classes: 10"), std::string::npos) << resolved.out;
}

TEST_F(Cli, CfgFlagAndPackage) {
  Result hydra = run("train --cfg hydra");
  ASSERT_EQ(hydra.code, 0) << hydra.err;
  EXPECT_NE(hydra.out.find("hydra:"), std::string::npos);
  EXPECT_NE(hydra.out.find("run:"), std::string::npos);
  Result pkg = run("config -p optim");
  ASSERT_EQ(pkg.code, 0) << pkg.err;
  EXPECT_NE(pkg.out.find("optim:"), std::string::npos);
  EXPECT_EQ(pkg.out.find("trainer:"), std::string::npos) << pkg.out;
  Result job = run("train --cfg job +experiment=dinat_tiny_imagenet data.root=/data/imagenet");
  ASSERT_EQ(job.code, 0) << job.err;
  EXPECT_NE(job.out.find("epochs: 300"), std::string::npos) << job.out;
  EXPECT_NE(job.out.find("root: /data/imagenet"), std::string::npos) << job.out;
}

TEST_F(Cli, UnknownKeyFailsWithExitTwoNamingTheKey) {
  Result r = run("train trainer.epohcs=3");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("Could not override 'trainer.epohcs'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("+trainer.epohcs=3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("trainer.epochs"), std::string::npos) << r.err;
  // One line, no stack trace.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(Cli, ConfigErrorsExitTwo) {
  Result option = run("config model=no_such_model");
  EXPECT_EQ(option.code, 2);
  EXPECT_NE(option.err.find("Available options in 'model'"), std::string::npos) << option.err;
  EXPECT_NE(option.err.find("dinat_nano"), std::string::npos) << option.err;
  EXPECT_EQ(run("config 'trainer.epochs=[1,2'").code, 2);
  EXPECT_EQ(run("config trainer.epochs=1,2").code, 2);
  Result missing = run("train +experiment=dinat_tiny_imagenet");
  EXPECT_EQ(missing.code, 2) << "data.root is mandatory for ImageNet";
  EXPECT_NE(missing.err.find("data.root"), std::string::npos) << missing.err;
  EXPECT_EQ(run("config --config-dir /no/such/dir").code, 2);
}

TEST_F(Cli, UserConfigDirTakesPrecedence) {
  fs::create_directories(dir_ / "conf" / "trainer");
  std::ofstream(dir_ / "conf" / "trainer" / "quick.yaml") << "epochs: 1\nlog_every: 5\n";
  Result r = run("config --config-dir conf trainer=quick");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("log_every: 5"), std::string::npos) << r.out;
}

TEST_F(Cli, EnvInterpolationReachesTheConfig) {
  Result r = run("config --resolve -p data.root");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("/usr/share/datasets/fashion-mnist"), std::string::npos) << r.out;
  Result env = run("config --resolve -p data.root", "VITRINE_FASHION_MNIST=/elsewhere");
  EXPECT_NE(env.out.find("/elsewhere"), std::string::npos) << env.out;
}

TEST_F(Cli, ModelsListsTheZoo) {
  Result r = run("models");
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* row : {"nat_tiny", "27,901,582", "dinat_large", "200,943,514", "dinat_s_base",
                          "87,768,224", "dinat_nano"})
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
  Result filtered = run("models DiNAT_s");
  EXPECT_EQ(filtered.code, 0);
  EXPECT_NE(filtered.out.find("dinat_s_tiny"), std::string::npos) << filtered.out;
  EXPECT_EQ(filtered.out.find("nat_mini"), std::string::npos) << filtered.out;
}

TEST_F(Cli, BenchModelWritesOneRowPerModelAndMode) {
  Result r =
      run("bench model halonet_nano --batch 4 --warmup 1 --iters 2 --results-file bench.csv");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const std::string csv = vitrine::testing::slurp(dir_ / "bench.csv");
  std::istringstream lines(csv);
  std::string header, infer, train, extra;
  std::getline(lines, header);
  std::getline(lines, infer);
  std::getline(lines, train);
  EXPECT_FALSE(std::getline(lines, extra)) << csv;
  EXPECT_EQ(header.rfind("model,mode,batch_size,img_size,param_count,gmacs,samples_per_sec", 0), 0u)
      << header;
  EXPECT_EQ(infer.rfind("halonet_nano,infer,4,28,0.22,", 0), 0u) << infer;
  EXPECT_EQ(train.rfind("halonet_nano,train,4,28,0.22,", 0), 0u) << train;
  // samples/s is the 7th column and positive.
  auto column = [](const std::string& row, int index) {
    std::istringstream in(row);
    std::string cell;
    for (int i = 0; i <= index; ++i) std::getline(in, cell, ',');
    return std::stod(cell);
  };
  EXPECT_GT(column(infer, 6), 0.0);
  EXPECT_GT(column(train, 6), 0.0);

  Result unknown = run("bench model no_such_net");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("Unknown model 'no_such_net'"), std::string::npos) << unknown.err;
  EXPECT_EQ(run("bench model halonet_nano --mode fast").code, 2);
  // A size the model cannot take is reported per row and fails the run.
  Result bad_size = run("bench model halonet26t --img-size 128 --batch 1 --mode infer");
  EXPECT_EQ(bad_size.code, 1);
  EXPECT_NE(bad_size.out.find("skipped: HaloAttention"), std::string::npos) << bad_size.out;
}

// The training loader alone, composed as `train` composes it: one row with the batch shape the
// config asks for and a positive rate; bad counts and sweeps are usage errors.
TEST_F(Cli, BenchLoaderTimesTheTrainingLoader) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  Result r =
      run("bench loader data.batch_size=16 --batches 3 --warmup 1 --results-file loader.csv");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const std::string csv = vitrine::testing::slurp(dir_ / "loader.csv");
  std::istringstream lines(csv);
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  EXPECT_EQ(header, "data,batch_shape,workers,batches,images_per_sec,batch_ms") << csv;
  EXPECT_EQ(row.rfind("fashion_mnist,16x1x28x28,1,3,", 0), 0u) << row;
  EXPECT_GT(std::stod(row.substr(std::string("fashion_mnist,16x1x28x28,1,3,").size())), 0.0);

  Result none = run("bench loader --batches 0");
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("--batches must be positive"), std::string::npos) << none.err;
  EXPECT_EQ(run("bench loader -m data.batch_size=8,16").code, 2);
}

// --amp autocasts forward and loss (bf16 runs on the CPU too), --channels-last reorders weights
// and inputs; both are recorded in the row. What cannot work is refused by name.
TEST_F(Cli, BenchModelTakesAutocastAndChannelsLast) {
  Result r =
      run("bench model halonet_nano --batch 4 --warmup 1 --iters 1 --amp bf16 --channels-last "
          "--results-file amp.csv");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("amp bf16, channels-last"), std::string::npos) << r.out;
  const std::string csv = vitrine::testing::slurp(dir_ / "amp.csv");
  EXPECT_NE(csv.find(",float32,bf16,channels_last,cpu,"), std::string::npos) << csv;

  Result fp16 = run("bench model halonet_nano --amp fp16");
  EXPECT_EQ(fp16.code, 2);
  EXPECT_NE(fp16.err.find("--amp fp16 needs --device cuda"), std::string::npos) << fp16.err;
  Result unknown = run("bench model halonet_nano --amp fp8");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("--amp must be none, bf16 or fp16, got 'fp8'"), std::string::npos)
      << unknown.err;
  Result twice = run("bench model halonet_nano --amp bf16 --dtype bfloat16");
  EXPECT_EQ(twice.code, 2);
  EXPECT_NE(twice.err.find("--amp autocasts a float32 model"), std::string::npos) << twice.err;
}

// docs/zoo.md carries the `vitrine models --markdown` table between markers; it must be what
// the registry prints today (regenerate it with build/vitrine models --markdown).
TEST_F(Cli, ZooPageHoldsTheModelsTable) {
  const Result r = run("models --markdown");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string page = vitrine::testing::slurp(fs::path(VITRINE_SOURCE_DIR) / "docs/zoo.md");
  const std::string begin = "<!-- vitrine models --markdown -->\n", end = "<!-- end -->";
  const size_t from = page.find(begin), to = page.find(end);
  ASSERT_NE(from, std::string::npos) << "docs/zoo.md lacks the table's opening marker";
  ASSERT_NE(to, std::string::npos) << "docs/zoo.md lacks the table's closing marker";
  EXPECT_EQ(page.substr(from + begin.size(), to - from - begin.size()), r.out)
      << "docs/zoo.md is stale: paste the output of `vitrine models --markdown`";
  EXPECT_NE(r.out.find("| dinat_tiny | DiNAT | 224 | 27,901,582 |"), std::string::npos) << r.out;
}

// Issue 24 (9): a filter that matches nothing is an error naming it, with a suggestion.
TEST_F(Cli, ModelsFilterThatMatchesNothingIsAnError) {
  const Result r = run("models dinatt_tiny");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no model or family matches 'dinatt_tiny'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'dinat_tiny'"), std::string::npos) << r.err;
  EXPECT_EQ(run("models ResNet").code, 0);
}

namespace {

// The `vitrine` commands of the README's and docs' shell blocks, continuation lines joined,
// comments dropped: what a user copies.
std::vector<std::string> documented_commands() {
  std::vector<std::string> out;
  std::vector<fs::path> pages = {fs::path(VITRINE_SOURCE_DIR) / "README.md"};
  for (const auto& entry : fs::directory_iterator(fs::path(VITRINE_SOURCE_DIR) / "docs"))
    if (entry.path().extension() == ".md") pages.push_back(entry.path());
  for (const fs::path& page : pages) {
    std::istringstream text(vitrine::testing::slurp(page));
    std::string line, command;
    bool in_shell = false;
    while (std::getline(text, line)) {
      if (line.rfind("```", 0) == 0) {
        in_shell = !in_shell && line.rfind("```sh", 0) == 0;
        continue;
      }
      if (!in_shell) continue;
      // A comment starts at " #" outside quotes.
      bool quoted = false;
      for (size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\'') quoted = !quoted;
        if (!quoted && line[i] == '#' && (i == 0 || line[i - 1] == ' ')) {
          line.resize(i);
          break;
        }
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      const bool continues = !line.empty() && line.back() == '\\';
      if (continues) line.pop_back();
      command += line;
      if (continues) continue;
      const size_t at = command.find("vitrine ");
      if (at != std::string::npos && (at == 0 || command[at - 1] == ' ' || command[at - 1] == '/'))
        out.push_back(command.substr(at + 8) + "  [" + page.filename().string() + "]");
      command.clear();
    }
  }
  return out;
}

}  // namespace

// Every documented command whose configuration can be checked without data composes as
// written, through the same shell a user pastes it into (train with --cfg job, launch's inner
// train, config and models as they are): the pages cannot drift from the binary's keys and
// groups (issue 24).
TEST_F(Cli, DocumentedCommandsRunAsWritten) {
  const std::vector<std::string> commands = documented_commands();
  ASSERT_GT(commands.size(), 20u);
  int checked = 0;
  for (const std::string& entry : commands) {
    const std::string command = entry.substr(0, entry.rfind("  ["));
    std::string sub = command.substr(0, command.find(' '));
    std::string args = command;
    if (sub == "launch") {
      const size_t inner = command.find(" -- ");
      if (inner == std::string::npos) continue;
      args = command.substr(inner + 4);
      sub = args.substr(0, args.find(' '));
    }
    if (sub == "train") {
      if (args.find("--cfg") == std::string::npos) args += " --cfg job";
    } else if (sub != "config" && sub != "models") {
      // eval takes its configuration from a checkpoint (the dense and SR end-to-end tests run
      // the documented eval commands on real ones); bench and export need a model run.
      continue;
    }
    const Result r = run(args);
    EXPECT_EQ(r.code, 0) << entry << "\n" << r.err;
    ++checked;
  }
  EXPECT_GT(checked, 15);
}
