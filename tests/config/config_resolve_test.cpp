// Interpolation: absolute, relative, string, resolvers, mandatory values, cycles; and the
// typed view over a resolved node.
#include <gtest/gtest.h>

#include <cstdlib>

#include "config/resolve.h"
#include "config/view.h"
#include "config/yaml_io.h"
#include "core/error.h"

using namespace vitrine;
using namespace vitrine::config;

namespace {
Node yaml(const std::string& text) {
  return load_yaml(text, "test");
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Resolve, AbsoluteKeepsTypeAndStringInterpolationConcatenates) {
  Node root = yaml("a: {b: 3, l: [1, 2]}\nx: ${a.b}\ny: run_${a.b}_${a.l.1}\nz: ${a}\n");
  Node r = Resolver(root).resolve_all();
  EXPECT_EQ(r.find("x")->as_int(), 3);
  EXPECT_EQ(r.find("y")->as_string(), "run_3_2");
  EXPECT_EQ(*r.find("z"), yaml("{b: 3, l: [1, 2]}"));
}

TEST(Resolve, RelativeInterpolation) {
  Node root = yaml("model:\n  dim: 64\n  head_dim: ${.dim}\n  top: ${..seed}\nseed: 7\n");
  Node r = Resolver(root).resolve_all();
  EXPECT_EQ(r.find("model")->find("head_dim")->as_int(), 64);
  EXPECT_EQ(r.find("model")->find("top")->as_int(), 7);
}

TEST(Resolve, ChainsResolveTransitively) {
  Node root = yaml("a: ${b}\nb: ${c}\nc: 5\n");
  EXPECT_EQ(Resolver(root).resolve({"a"}).as_int(), 5);
}

TEST(Resolve, CyclesAreDetectedWithTheChain) {
  Node root = yaml("a: ${b}\nb: ${c}\nc: ${a}\n");
  std::string msg = error_of([&] { Resolver(root).resolve_all(); });
  EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
  EXPECT_NE(msg.find("a"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { Resolver(yaml("a: x${a}\n")).resolve_all(); }).find("cycle"),
            std::string::npos);
}

TEST(Resolve, MissingKeyAndMandatoryValueAreErrors) {
  std::string msg = error_of([&] { Resolver(yaml("a: ${nope.x}\n")).resolve_all(); });
  EXPECT_NE(msg.find("nope.x"), std::string::npos) << msg;
  msg = error_of([&] { Resolver(yaml("data:\n  root: ???\nx: ${data.root}\n")).resolve_all(); });
  EXPECT_NE(msg.find("Missing mandatory value: data.root"), std::string::npos) << msg;
  // Unset mandatory values survive a dump (they are not read through an interpolation)...
  Node dumped = Resolver(yaml("data:\n  root: ???\n")).resolve_all();
  EXPECT_TRUE(dumped.find("data")->find("root")->is_missing());
  // ...but a job refuses to start with one.
  msg = error_of([&] { require_complete(dumped); });
  EXPECT_NE(msg.find("Missing mandatory value: data.root"), std::string::npos) << msg;
  EXPECT_NO_THROW(require_complete(yaml("a:\n  b: [1, x]\n")));
}

TEST(Resolve, EnvResolverWithDefault) {
  setenv("VITRINE_TEST_ENV", "/tmp/x", 1);
  unsetenv("VITRINE_TEST_UNSET");
  Node r = Resolver(yaml("a: ${oc.env:VITRINE_TEST_ENV}\nb: ${oc.env:VITRINE_TEST_UNSET,fallback}\n"
                         "c: ${oc.env:VITRINE_TEST_UNSET,null}\n"))
               .resolve_all();
  EXPECT_EQ(r.find("a")->as_string(), "/tmp/x");
  EXPECT_EQ(r.find("b")->as_string(), "fallback");
  EXPECT_TRUE(r.find("c")->is_null());
  std::string msg =
      error_of([&] { Resolver(yaml("a: ${oc.env:VITRINE_TEST_UNSET}\n")).resolve_all(); });
  EXPECT_NE(msg.find("VITRINE_TEST_UNSET"), std::string::npos) << msg;
}

TEST(Resolve, NowIsFixedPerResolverAndSelectFallsBack) {
  std::tm t{};
  t.tm_year = 2026 - 1900;
  t.tm_mon = 10;
  t.tm_mday = 24;
  t.tm_hour = 13;
  t.tm_min = 5;
  t.tm_sec = 9;
  std::time_t when = std::mktime(&t);
  Node r = Resolver(yaml("d: outputs/${now:%Y-%m-%d}/${now:%H-%M-%S}\n"
                         "s: ${oc.select:missing.key,7}\nt: ${oc.select:d}\n"),
                    when)
               .resolve_all();
  EXPECT_EQ(r.find("d")->as_string(), "outputs/2026-11-24/13-05-09");
  EXPECT_EQ(r.find("s")->as_int(), 7);
  EXPECT_EQ(r.find("t")->as_string(), "outputs/2026-11-24/13-05-09");
}

TEST(Resolve, EscapedInterpolationStaysLiteral) {
  Node r = Resolver(yaml("a: '\\${not.resolved}'\n")).resolve_all();
  EXPECT_EQ(r.find("a")->as_string(), "${not.resolved}");
}

TEST(Resolve, UnknownResolverIsAnError) {
  EXPECT_NE(error_of([&] { Resolver(yaml("a: ${oc.nope:x}\n")).resolve_all(); }).find("oc.nope"),
            std::string::npos);
}

TEST(ConfigView, TypedGettersNameTheFullKey) {
  ConfigView view(yaml("epochs: 3\nlr: 1e-3\nwarm: 2\nname: x\non: true\nsizes: [1, 2]\n"
                       "opt: null\nsub: {k: 1}\nmand: ???\n"),
                  "trainer");
  EXPECT_EQ(view.get_int("epochs"), 3);
  EXPECT_DOUBLE_EQ(view.get_float("lr"), 1e-3);
  EXPECT_DOUBLE_EQ(view.get_float("warm"), 2.0);  // ints read as floats
  EXPECT_EQ(view.get_string("name"), "x");
  EXPECT_TRUE(view.get_bool("on"));
  EXPECT_EQ(view.get_int_list("sizes"), (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(view.get_optional_string("opt").has_value());
  EXPECT_EQ(view.child("sub").get_int("k"), 1);
  EXPECT_EQ(view.get_int("absent", 9), 9);

  std::string msg = error_of([&] { view.get_int("name"); });
  EXPECT_NE(msg.find("trainer.name"), std::string::npos) << msg;
  EXPECT_NE(msg.find("int"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { view.get_int("lr"); }).find("trainer.lr"), std::string::npos);
  EXPECT_NE(error_of([&] { view.get_int("nope"); }).find("trainer.nope"), std::string::npos);
  EXPECT_NE(
      error_of([&] { view.get_string("mand"); }).find("Missing mandatory value: trainer.mand"),
      std::string::npos);
  EXPECT_NE(error_of([&] { view.child("sub").get_int("k2"); }).find("trainer.sub.k2"),
            std::string::npos);
}

TEST(ConfigView, ExpectKeysRejectsUnknownWithSuggestion) {
  ConfigView view(yaml("epochs: 3\nepohcs: 4\n"), "trainer");
  std::string msg = error_of([&] { view.expect_keys({"epochs", "log_every"}); });
  EXPECT_NE(msg.find("trainer.epohcs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'epochs'"), std::string::npos) << msg;
  EXPECT_NO_THROW(ConfigView(yaml("epochs: 1\n"), "t").expect_keys({"epochs"}));
}
