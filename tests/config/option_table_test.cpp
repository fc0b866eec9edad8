// Option tables: each key declared once is both read and known — absent keys keep defaults,
// unknown keys fail naming the key with a suggestion, required keys fail when missing, nullable
// fields read null as nullopt, known() keys pass without being read, and a wrong type names the
// key and what it should be.
#include "config/option_table.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "config/yaml_io.h"
#include "core/error.h"

namespace vitrine::config {
namespace {

struct Inner {
  double beta = 0.5;
};
struct Settings {
  int64_t epochs = 1;
  double lr = 0.1;
  bool flag = false;
  std::string mode = "a";
  std::vector<int64_t> sizes{1, 2};
  std::vector<std::string> names;
  std::optional<double> clip;
  Inner inner;
};

OptionTable<Settings> table() {
  return OptionTable<Settings>()
      .field("epochs", &Settings::epochs)
      .required()
      .field("lr", &Settings::lr)
      .field("flag", &Settings::flag)
      .field("mode", &Settings::mode)
      .field("sizes", &Settings::sizes)
      .field("names", &Settings::names)
      .field("clip", &Settings::clip)
      .field_at("beta", [](Settings& s) -> double& { return s.inner.beta; })
      .known("name");
}

ConfigView view(const std::string& yaml) {
  return ConfigView(load_yaml(yaml, "test"), "trainer");
}

std::string error_of(const std::string& yaml) {
  try {
    table().apply(view(yaml), Settings());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(OptionTable, ReadsPresentKeysAndKeepsDefaults) {
  const Settings s = table().apply(
      view("{epochs: 3, flag: true, sizes: [4], names: [x, y], clip: 2.5, beta: 0.9, name: t}"),
      Settings());
  EXPECT_EQ(s.epochs, 3);
  EXPECT_DOUBLE_EQ(s.lr, 0.1);  // absent: the default
  EXPECT_TRUE(s.flag);
  EXPECT_EQ(s.mode, "a");
  EXPECT_EQ(s.sizes, (std::vector<int64_t>{4}));
  EXPECT_EQ(s.names, (std::vector<std::string>{"x", "y"}));
  ASSERT_TRUE(s.clip);
  EXPECT_DOUBLE_EQ(*s.clip, 2.5);
  EXPECT_DOUBLE_EQ(s.inner.beta, 0.9);
  EXPECT_FALSE(table().apply(view("{epochs: 1, clip: null}"), Settings()).clip);
}

TEST(OptionTable, UnknownMissingAndMistypedKeysNameTheKey) {
  const std::string unknown = error_of("{epochs: 1, epohcs: 2}");
  EXPECT_NE(unknown.find("Unknown config key 'trainer.epohcs'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("did you mean 'epochs'"), std::string::npos) << unknown;
  const std::string missing = error_of("{lr: 0.2}");
  EXPECT_NE(missing.find("Missing config key 'trainer.epochs'"), std::string::npos) << missing;
  const std::string mistyped = error_of("{epochs: ten}");
  EXPECT_NE(mistyped.find("'trainer.epochs' must be an int"), std::string::npos) << mistyped;
  const std::string names = error_of("{epochs: 1, names: [x, 3]}");
  EXPECT_NE(names.find("'trainer.names' must be a list of strings"), std::string::npos) << names;
}

TEST(OptionTable, ReadFromLeavesOtherKeysToAnotherTable) {
  // A table that owns part of a node reads its keys and ignores the rest; the owner of the
  // node knows them through keys().
  Settings s;
  table().read_from(view("{epochs: 5, crop: none}"), s);
  EXPECT_EQ(s.epochs, 5);
  const auto owner = OptionTable<Settings>().known("crop").known(table().keys());
  EXPECT_NO_THROW(owner.apply(view("{epochs: 5, crop: none}"), Settings()));
  EXPECT_THROW(owner.apply(view("{epochs: 5, crops: none}"), Settings()), ConfigError);
}

}  // namespace
}  // namespace vitrine::config
