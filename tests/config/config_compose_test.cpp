// Hydra-style composition over in-memory config trees: defaults lists, _self_ ordering,
// packages, experiments with `override`, command-line group and value overrides, struct
// mode errors.
#include <gtest/gtest.h>

#include "config/compose.h"
#include "config/embedded.h"
#include "config/job.h"
#include "config/path.h"
#include "config/resolve.h"
#include "config/yaml_io.h"
#include "core/error.h"

using namespace vitrine;
using namespace vitrine::config;

namespace {

// A small tree shaped like the real one.
std::map<std::string, std::string> fixture_files() {
  return {
      {"config.yaml",
       "defaults:\n  - model: small\n  - optim: adamw\n  - trainer: default\n  - _self_\n"
       "seed: 1\noptim:\n  lr: 0.5\n"},
      {"model/small.yaml", "name: small\ndepths: [1, 1]\ndim: 32\nhead_dim: ${.dim}\n"},
      {"model/large.yaml", "name: large\ndepths: [2, 2, 6]\ndim: 96\n"},
      {"model/composite.yaml", "defaults:\n  - base\n  - block: na\n  - _self_\nname: composite\n"},
      {"model/base.yaml", "dim: 16\nname: base\n"},
      {"model/block/na.yaml", "kind: na\nkernel: 7\n"},
      {"model/block/swin.yaml", "kind: swin\nwindow: 7\n"},
      {"optim/adamw.yaml", "name: adamw\nlr: 1e-3\nweight_decay: 0.05\n"},
      {"optim/sgd.yaml", "name: sgd\nlr: 0.1\nmomentum: 0.9\n"},
      {"trainer/default.yaml", "epochs: 10\nlog_every: 50\n"},
      {"experiment/big.yaml",
       "# @package _global_\ndefaults:\n  - override /model: large\n  - override /optim: sgd\n"
       "trainer:\n  epochs: 300\noptim:\n  lr: 0.2\n"},
      {"experiment/bad_override.yaml",
       "# @package _global_\ndefaults:\n  - override /nothere: x\n"},
      {"selfirst.yaml", "defaults:\n  - _self_\n  - model: small\nmodel:\n  dim: 999\n"},
      {"pkg.yaml", "defaults:\n  - model@backbone: small\n  - optim@opt.main: sgd\n"},
      {"directive.yaml", "defaults:\n  - extra: here\n"},
      {"extra/here.yaml", "# @package deep.inside\nvalue: 1\n"},
      {"mandatory.yaml", "defaults:\n  - model: ???\n"},
      {"nullgroup.yaml", "defaults:\n  - model: null\nx: 1\n"},
      {"cyclic.yaml", "defaults:\n  - cyclic\n"},
  };
}

ConfigRepository fixture_repo() {
  ConfigRepository repo;
  repo.add(std::make_unique<MemorySource>(fixture_files(), "fixture"));
  return repo;
}

Node compose_job(const std::vector<std::string>& overrides, const std::string& name = "config") {
  ConfigRepository repo = fixture_repo();
  ComposeOptions options;
  options.config_name = name;
  return job_config(compose(repo, parse_overrides(overrides), options).config);
}

const Node& at(const Node& root, const std::string& path) {
  const Node* n = find_path(root, split_path(path));
  if (!n) throw std::runtime_error("missing " + path);
  return *n;
}

std::string error_of(const std::vector<std::string>& overrides,
                     const std::string& name = "config") {
  try {
    compose_job(overrides, name);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Compose, DefaultsListPlacesGroupsInTheirPackagesAndSelfComesLast) {
  Node cfg = compose_job({});
  EXPECT_EQ(cfg.keys(), (std::vector<std::string>{"model", "optim", "trainer", "seed"}));
  EXPECT_EQ(at(cfg, "model.name").as_string(), "small");
  // The primary config's own `optim.lr` (its _self_ is last) wins over optim/adamw.yaml.
  EXPECT_DOUBLE_EQ(at(cfg, "optim.lr").as_float(), 0.5);
  EXPECT_DOUBLE_EQ(at(cfg, "optim.weight_decay").as_float(), 0.05);
  // Interpolations stay unresolved in the composed tree.
  EXPECT_EQ(at(cfg, "model.head_dim").as_string(), "${.dim}");
}

TEST(Compose, SelfFirstLetsDefaultsWin) {
  Node cfg = compose_job({}, "selfirst");
  EXPECT_EQ(at(cfg, "model.dim").as_int(), 32);
}

TEST(Compose, GroupOverrideSelectsAnotherOption) {
  Node cfg = compose_job({"model=large"});
  EXPECT_EQ(at(cfg, "model.name").as_string(), "large");
  EXPECT_EQ(at(cfg, "model.depths"), load_yaml("[2, 2, 6]", "e"));
  EXPECT_EQ(at(cfg, "model").find("head_dim"), nullptr);  // nothing left from `small`
}

TEST(Compose, UnknownGroupOptionListsTheAvailableOnes) {
  std::string msg = error_of({"model=smal"});
  EXPECT_NE(msg.find("Could not find 'model/smal'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("composite, large, small"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'small'"), std::string::npos) << msg;
}

TEST(Compose, ExperimentOverridesGroupsAndValuesButCommandLineWins) {
  Node cfg = compose_job({"+experiment=big"});
  EXPECT_EQ(at(cfg, "model.name").as_string(), "large");
  EXPECT_EQ(at(cfg, "optim.name").as_string(), "sgd");
  EXPECT_DOUBLE_EQ(at(cfg, "optim.lr").as_float(), 0.2);  // the experiment comes after _self_
  EXPECT_EQ(at(cfg, "trainer.epochs").as_int(), 300);
  EXPECT_EQ(cfg.find("experiment"), nullptr);  // _global_ package

  Node cli = compose_job({"+experiment=big", "model=small", "trainer.epochs=5"});
  EXPECT_EQ(at(cli, "model.name").as_string(), "small");
  EXPECT_EQ(at(cli, "trainer.epochs").as_int(), 5);
}

TEST(Compose, OverrideOfAnUnlistedGroupIsAnError) {
  std::string msg = error_of({"+experiment=bad_override"});
  EXPECT_NE(msg.find("nothere"), std::string::npos) << msg;
}

TEST(Compose, AppendAndDeleteGroups) {
  EXPECT_EQ(at(compose_job({"+model/block=swin"}), "model.block.kind").as_string(), "swin");
  Node without = compose_job({"~optim"});
  // The primary config still contributes optim.lr through _self_.
  EXPECT_EQ(at(without, "optim").keys(), (std::vector<std::string>{"lr"}));
  std::string msg = error_of({"+model=large"});
  EXPECT_NE(msg.find("Multiple values for 'model'"), std::string::npos) << msg;
  EXPECT_NE(error_of({"~optim=sgd"}).find("selected option is 'adamw'"), std::string::npos);
  EXPECT_NE(error_of({"~model/block"}).find("No match"), std::string::npos);
  // ++ overrides when listed, appends when not.
  EXPECT_EQ(at(compose_job({"++model=large"}), "model.name").as_string(), "large");
  EXPECT_EQ(at(compose_job({"++model/block=na"}), "model.block.kind").as_string(), "na");
}

TEST(Compose, OverridingAnUnlistedGroupSuggestsAppending) {
  std::string msg = error_of({"model/block=swin"});
  EXPECT_NE(msg.find("Could not override 'model/block'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("+model/block=swin"), std::string::npos) << msg;
}

TEST(Compose, NestedDefaultsRelativeConfigsAndGroups) {
  Node cfg = compose_job({"model=composite"});
  EXPECT_EQ(at(cfg, "model.name").as_string(), "composite");
  EXPECT_EQ(at(cfg, "model.dim").as_int(), 16);              // from model/base.yaml
  EXPECT_EQ(at(cfg, "model.block.kind").as_string(), "na");  // group model/block
  Node swapped = compose_job({"model=composite", "model/block=swin"});
  EXPECT_EQ(at(swapped, "model.block.kind").as_string(), "swin");
}

TEST(Compose, PackagesFromDefaultsListAndDirective) {
  Node cfg = compose_job({}, "pkg");
  EXPECT_EQ(at(cfg, "backbone.name").as_string(), "small");
  EXPECT_EQ(at(cfg, "opt.main.name").as_string(), "sgd");
  EXPECT_EQ(at(compose_job({}, "directive"), "deep.inside.value").as_int(), 1);
}

TEST(Compose, MandatoryNullAndCyclicDefaults) {
  std::string msg = error_of({}, "mandatory");
  EXPECT_NE(msg.find("You must specify 'model'"), std::string::npos) << msg;
  EXPECT_EQ(at(compose_job({"model=large"}, "mandatory"), "model.name").as_string(), "large");
  Node none = compose_job({}, "nullgroup");
  EXPECT_EQ(none.find("model"), nullptr);
  EXPECT_NE(error_of({}, "cyclic").find("cycle"), std::string::npos);
  EXPECT_NE(error_of({}, "nope").find("Cannot find primary config 'nope'"), std::string::npos);
}

TEST(Compose, ValueOverridesInStructMode) {
  Node cfg = compose_job({"trainer.epochs=3", "+trainer.new_key=[1,2]", "++seed=9", "++brand.new=x",
                          "~trainer.log_every", "model.depths=[4]"});
  EXPECT_EQ(at(cfg, "trainer.epochs").as_int(), 3);
  EXPECT_EQ(at(cfg, "trainer.new_key"), load_yaml("[1, 2]", "e"));
  EXPECT_EQ(at(cfg, "seed").as_int(), 9);
  EXPECT_EQ(at(cfg, "brand.new").as_string(), "x");
  EXPECT_EQ(at(cfg, "trainer").find("log_every"), nullptr);
  EXPECT_EQ(at(cfg, "model.depths"), load_yaml("[4]", "e"));  // lists replace
}

TEST(Compose, UnknownKeyErrorReadsLikeHydrasAndSuggests) {
  std::string msg = error_of({"trainer.epohcs=3"});
  EXPECT_NE(msg.find("Could not override 'trainer.epohcs'. To append to your config use "
                     "+trainer.epohcs=3"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("Did you mean 'trainer.epochs'?"), std::string::npos) << msg;
  EXPECT_NE(error_of({"nosuch.deep.key=1"}).find("Could not override 'nosuch.deep.key'"),
            std::string::npos);
}

TEST(Compose, AppendDeleteAndSweepErrors) {
  EXPECT_NE(error_of({"+trainer.epochs=3"}).find("An item is already at 'trainer.epochs'"),
            std::string::npos);
  EXPECT_NE(error_of({"~trainer.nope"}).find("'trainer.nope' does not exist"), std::string::npos);
  EXPECT_NE(error_of({"~trainer.epochs=11"}).find("is 10 and not 11"), std::string::npos);
  EXPECT_NO_THROW(compose_job({"~trainer.epochs=10"}));
  EXPECT_NE(error_of({"trainer.epochs=1,2"}).find("--multirun"), std::string::npos);
}

TEST(Compose, HydraNodeRecordsChoicesAndOverrides) {
  ConfigRepository repo = fixture_repo();
  ComposeOptions options;
  options.job_name = "train";
  Composition c = compose(repo, parse_overrides({"model=large", "seed=3"}), options);
  EXPECT_EQ(at(c.config, "hydra.runtime.choices.model").as_string(), "large");
  EXPECT_EQ(at(c.config, "hydra.runtime.choices.optim").as_string(), "adamw");
  EXPECT_EQ(at(c.config, "hydra.job.name").as_string(), "train");
  EXPECT_EQ(at(c.config, "hydra.overrides.task"), load_yaml("[model=large, seed=3]", "e"));
  EXPECT_EQ(at(c.config, "hydra.job.override_dirname").as_string(), "model=large,seed=3");
  // hydra.* is overridable, and run.dir is shorthand for hydra.run.dir.
  Composition d = compose(repo, parse_overrides({"run.dir=/tmp/here"}), options);
  EXPECT_EQ(at(d.config, "hydra.run.dir").as_string(), "/tmp/here");
}

TEST(Compose, SearchPathFirstSourceWins) {
  ConfigRepository repo;
  repo.add(std::make_unique<MemorySource>(
      std::map<std::string, std::string>{{"model/small.yaml", "name: user_small\n"},
                                         {"model/mine.yaml", "name: mine\n"}},
      "user"));
  repo.add(std::make_unique<MemorySource>(fixture_files(), "fixture"));
  Node cfg = job_config(compose(repo, {}).config);
  EXPECT_EQ(at(cfg, "model.name").as_string(), "user_small");
  EXPECT_EQ(repo.options("model"),
            (std::vector<std::string>{"base", "composite", "large", "mine", "small"}));
}

// The real, embedded tree composes and resolves, with every group option and experiment.
TEST(Compose, EmbeddedTreeComposesEveryOption) {
  ConfigRepository repo = make_repository({});
  Node base = Resolver(compose(repo, {}).config).resolve_all();
  EXPECT_EQ(at(base, "model.name").as_string(), "dinat_nano");
  EXPECT_EQ(at(base, "model.num_classes").as_int(), 10);
  for (const char* group : {"model", "data", "task", "optim", "sched", "trainer"}) {
    for (const auto& option : repo.options(group)) {
      SCOPED_TRACE(std::string(group) + "=" + option);
      EXPECT_NO_THROW(compose(repo, parse_overrides({std::string(group) + "=" + option})));
    }
  }
  for (const auto& option : repo.options("experiment")) {
    SCOPED_TRACE(option);
    EXPECT_NO_THROW(compose(repo, parse_overrides({"+experiment=" + option, "data.root=/x"})));
  }
}
