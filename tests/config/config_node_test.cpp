// The config value tree: YAML typing, paths, merge semantics, dumping.
#include <gtest/gtest.h>

#include <cmath>

#include "config/node.h"
#include "config/path.h"
#include "config/yaml_io.h"
#include "core/error.h"

using namespace vitrine;
using namespace vitrine::config;

TEST(ConfigYaml, ScalarsAreTypedLikeOmegaConf) {
  Node n = load_yaml(
      "a: 1\nb: 1e-3\nc: 1.5\nd: true\ne: False\nf: null\ng: ~\nh: hello\ni: '1'\nj: \"true\"\n"
      "k: 0x10\nl: .inf\nm: -2\nn: 1_000\n",
      "test");
  EXPECT_TRUE(n.find("a")->is_int());
  EXPECT_EQ(n.find("a")->as_int(), 1);
  ASSERT_TRUE(n.find("b")->is_float());
  EXPECT_DOUBLE_EQ(n.find("b")->as_float(), 1e-3);
  EXPECT_DOUBLE_EQ(n.find("c")->as_float(), 1.5);
  EXPECT_TRUE(n.find("d")->as_bool());
  EXPECT_FALSE(n.find("e")->as_bool());
  EXPECT_TRUE(n.find("f")->is_null());
  EXPECT_TRUE(n.find("g")->is_null());
  EXPECT_EQ(n.find("h")->as_string(), "hello");
  // Quoted scalars stay strings.
  EXPECT_EQ(n.find("i")->as_string(), "1");
  EXPECT_EQ(n.find("j")->as_string(), "true");
  EXPECT_EQ(n.find("k")->as_int(), 16);
  EXPECT_TRUE(std::isinf(n.find("l")->as_float()));
  EXPECT_EQ(n.find("m")->as_int(), -2);
  EXPECT_EQ(n.find("n")->as_int(), 1000);
}

TEST(ConfigYaml, KeepsKeyOrderAndRejectsDuplicates) {
  Node n = load_yaml("z: 1\na: 2\nm: 3\n", "test");
  EXPECT_EQ(n.keys(), (std::vector<std::string>{"z", "a", "m"}));
  EXPECT_THROW(load_yaml("a: 1\na: 2\n", "dup.yaml"), ConfigError);
}

TEST(ConfigYaml, InvalidYamlNamesTheFileAndLine) {
  try {
    load_yaml("a: [1, 2\nb: 3\n", "model/bad.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model/bad.yaml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("line"), std::string::npos) << e.what();
  }
}

TEST(ConfigYaml, DumpRoundTripsTypes) {
  Node n = load_yaml(
      "a: 1\nb: 0.001\nc: '1'\nd: 'true'\ne: [1, 2.5, x]\nf: {g: null, h: ''}\ni: 1.0\n"
      "j: 'a: b'\n",
      "test");
  std::string text = dump_yaml(n);
  Node back = load_yaml(text, "dump");
  EXPECT_EQ(back, n) << text;
  // Floats stay floats even when integral.
  EXPECT_TRUE(back.find("i")->is_float());
}

TEST(ConfigYaml, PackageDirectiveIsReadFromTheHeaderOnly) {
  EXPECT_EQ(package_directive("# @package _global_\na: 1\n").value(), "_global_");
  EXPECT_EQ(package_directive("# comment\n# @package foo.bar\na: 1\n").value(), "foo.bar");
  EXPECT_FALSE(package_directive("a: 1\n# @package _global_\n").has_value());
}

TEST(ConfigMerge, DictsMergeListsAndScalarsReplace) {
  Node dst = load_yaml("a: {x: 1, y: [1, 2, 3]}\nb: 1\nc: {k: 1}\n", "dst");
  Node src = load_yaml("a: {y: [9], z: 2}\nb: {now: dict}\nd: new\n", "src");
  merge_into(dst, src);
  EXPECT_EQ(dst, load_yaml("a: {x: 1, y: [9], z: 2}\nb: {now: dict}\nc: {k: 1}\nd: new\n", "e"));
}

TEST(ConfigMerge, MissingValueDoesNotEraseAnExistingOne) {
  Node dst = load_yaml("root: /data\n", "dst");
  merge_into(dst, load_yaml("root: ???\n", "src"));
  EXPECT_EQ(dst.find("root")->as_string(), "/data");
}

TEST(ConfigPath, SplitJoinFindSetErase) {
  EXPECT_EQ(split_path("a.b[2].c"), (KeyPath{"a", "b", "2", "c"}));
  EXPECT_THROW(split_path("a..b"), ConfigError);
  Node root = load_yaml("a: {b: [10, 20, {c: 3}]}\n", "t");
  ASSERT_NE(find_path(root, split_path("a.b.2.c")), nullptr);
  EXPECT_EQ(find_path(root, split_path("a.b.1"))->as_int(), 20);
  EXPECT_EQ(find_path(root, split_path("a.b.7")), nullptr);
  set_path(root, split_path("x.y.z"), Node(5));
  EXPECT_EQ(find_path(root, split_path("x.y.z"))->as_int(), 5);
  set_path(root, split_path("a.b.0"), Node("ten"));
  EXPECT_EQ(find_path(root, split_path("a.b.0"))->as_string(), "ten");
  EXPECT_THROW(set_path(root, split_path("a.b.9"), Node(1)), ConfigError);
  EXPECT_THROW(set_path(root, split_path("x.y.z.w"), Node(1)), ConfigError);  // z is a scalar
  EXPECT_TRUE(erase_path(root, split_path("a.b.1")));
  EXPECT_EQ(find_path(root, split_path("a.b"))->size(), 2u);
  EXPECT_FALSE(erase_path(root, split_path("nope.x")));
}

TEST(ConfigNode, FloatFormattingReadsBackAsFloat) {
  EXPECT_EQ(format_float(1.0), "1.0");
  EXPECT_EQ(format_float(0.001), "0.001");
  EXPECT_EQ(format_float(1e-8), "1e-08");
  EXPECT_TRUE(parse_plain_scalar(format_float(1e-8)).is_float());
  EXPECT_TRUE(parse_plain_scalar(format_float(3.0)).is_float());
}
