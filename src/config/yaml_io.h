// Reading and writing config trees as YAML (yaml-cpp underneath).
#pragma once

#include <optional>
#include <string>

#include "config/node.h"

namespace vitrine::config {

// Interprets an unquoted scalar the way OmegaConf's YAML loader does: null/~, true/false
// (any case), decimal/hex ints, floats including `1e-3`, `.inf`, `nan`; otherwise a string.
Node parse_plain_scalar(const std::string& text);

// Parses YAML text. `source` names the file in error messages.
Node load_yaml(const std::string& text, const std::string& source);

// The `# @package X` directive from a config file's header comments, if present.
std::optional<std::string> package_directive(const std::string& text);

// Block-style YAML, keys in order, strings quoted where a plain scalar would read back as
// something else.
std::string dump_yaml(const Node& node);

}  // namespace vitrine::config
