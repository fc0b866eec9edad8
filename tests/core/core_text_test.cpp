#include <gtest/gtest.h>

#include "core/text.h"

using namespace vitrine;

TEST(Text, EditDistance) {
  EXPECT_EQ(edit_distance("epochs", "epochs"), 0u);
  EXPECT_EQ(edit_distance("epohcs", "epochs"), 2u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(Text, SuggestionsOnlyForPlausibleTypos) {
  EXPECT_EQ(closest_match("epohcs", {"epochs", "log_every", "resume"}), "epochs");
  EXPECT_EQ(closest_match("zzzzzz", {"epochs", "log_every"}), "");
  EXPECT_EQ(did_you_mean("lr", {"lr2", "momentum"}), " (did you mean 'lr2'?)");
  EXPECT_EQ(did_you_mean("xyz", {}), "");
}
