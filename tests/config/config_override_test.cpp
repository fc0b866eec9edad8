// Hydra's override grammar: each prefix, each value form, sweeps, and syntax errors.
#include <gtest/gtest.h>

#include "config/override.h"
#include "config/yaml_io.h"
#include "core/error.h"

using namespace vitrine;
using namespace vitrine::config;

TEST(Override, Prefixes) {
  Override change = parse_override("trainer.epochs=3");
  EXPECT_EQ(change.type, OverrideType::Change);
  EXPECT_EQ(change.key, "trainer.epochs");
  EXPECT_EQ(change.value.as_int(), 3);

  EXPECT_EQ(parse_override("+a.b=1").type, OverrideType::Add);
  EXPECT_EQ(parse_override("++a.b=1").type, OverrideType::ForceAdd);
  EXPECT_EQ(parse_override("++a.b=1").key, "a.b");

  Override del = parse_override("~a.b");
  EXPECT_EQ(del.type, OverrideType::Delete);
  EXPECT_FALSE(del.has_value);
  Override del_value = parse_override("~a.b=5");
  EXPECT_TRUE(del_value.has_value);
  EXPECT_EQ(del_value.value.as_int(), 5);

  Override pkg = parse_override("model@backbone=nat_tiny");
  EXPECT_EQ(pkg.key, "model");
  EXPECT_EQ(pkg.package, "backbone");
}

TEST(Override, ValueTypes) {
  EXPECT_TRUE(parse_override("a=null").value.is_null());
  EXPECT_TRUE(parse_override("a=NULL").value.is_null());
  EXPECT_TRUE(parse_override("a=true").value.as_bool());
  EXPECT_FALSE(parse_override("a=False").value.as_bool());
  EXPECT_EQ(parse_override("a=-7").value.as_int(), -7);
  EXPECT_DOUBLE_EQ(parse_override("a=1e-3").value.as_float(), 1e-3);
  EXPECT_DOUBLE_EQ(parse_override("a=0.5").value.as_float(), 0.5);
  EXPECT_EQ(parse_override("a=hello world").value.as_string(), "hello world");
  EXPECT_EQ(parse_override("a='3'").value.as_string(), "3");
  EXPECT_EQ(parse_override("a=\"a,b\"").value.as_string(), "a,b");
  EXPECT_EQ(parse_override("a=").value.as_string(), "");
  EXPECT_EQ(parse_override("a=/path/to:file-1.yaml").value.as_string(), "/path/to:file-1.yaml");
  EXPECT_EQ(parse_override("a=${b.c}").value.as_string(), "${b.c}");
  EXPECT_EQ(parse_override("a=${oc.env:X,1}").value.as_string(), "${oc.env:X,1}");
}

TEST(Override, ListsAndDicts) {
  Override list = parse_override("a=[1, 2.5, x, 'y', [3]]");
  ASSERT_TRUE(list.value.is_list());
  EXPECT_EQ(list.value, load_yaml("[1, 2.5, x, 'y', [3]]", "e"));
  EXPECT_EQ(parse_override("a=[]").value, Node::list());

  Override dict = parse_override("a={x:1, y: [1,2], z: {w: null}}");
  EXPECT_EQ(dict.value, load_yaml("{x: 1, y: [1, 2], z: {w: null}}", "e"));
  EXPECT_EQ(parse_override("a={}").value, Node::dict());
}

TEST(Override, Sweeps) {
  Override sweep = parse_override("lr=0.1,0.01");
  ASSERT_TRUE(sweep.is_sweep());
  ASSERT_EQ(sweep.sweep.size(), 2u);
  EXPECT_DOUBLE_EQ(sweep.sweep[1].as_float(), 0.01);

  Override range = parse_override("seed=range(1,7,2)");
  ASSERT_EQ(range.sweep.size(), 3u);
  EXPECT_EQ(range.sweep[0].as_int(), 1);
  EXPECT_EQ(range.sweep[2].as_int(), 5);
  EXPECT_EQ(parse_override("x=range(3)").sweep.size(), 3u);
  Override frange = parse_override("x=range(0,1,0.25)");
  ASSERT_EQ(frange.sweep.size(), 4u);
  EXPECT_DOUBLE_EQ(frange.sweep[3].as_float(), 0.75);

  EXPECT_EQ(parse_override("model=a,b").sweep.size(), 2u);
  EXPECT_EQ(parse_override("x=choice(a,b,c)").sweep.size(), 3u);
  // A list is one value, not a sweep.
  EXPECT_FALSE(parse_override("x=[1,2]").is_sweep());
  EXPECT_EQ(sweep.with_value_text(Node(0.5)), "lr=0.5");
  EXPECT_EQ(parse_override("+a=x,y").with_value_text(Node("y")), "+a=y");
}

TEST(Override, SyntaxErrorsNameTheOverride) {
  for (const char* bad : {"=3", "a", "+a", "a=[1,2", "a={x 1}", "a b=1", "a=${b", "x=range()",
                          "x=range(1,2,0)", "a='open"}) {
    try {
      parse_override(bad);
      FAIL() << "expected an error for " << bad;
    } catch (const ConfigError& e) {
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
}
