// A config view over YAML written inline in a test: the node at `path` ("trainer",
// "data.augment") of the parsed text, as the code under test receives it from a composed config.
#pragma once

#include <string>

#include "config/view.h"
#include "config/yaml_io.h"

namespace vitrine::testing {

inline config::ConfigView yaml_view(const std::string& yaml, const std::string& path) {
  return config::ConfigView(config::load_yaml(yaml, "test"), path);
}

}  // namespace vitrine::testing
