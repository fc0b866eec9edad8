// Hydra's command-line override grammar:
//   key=value     change an existing key (or select a config group option)
//   +key=value    append a key that must not exist (or append a group to the defaults)
//   ++key=value   set, whether it exists or not
//   ~key[=value]  delete (a key, or a group from the defaults list)
// Values: null, true/false, ints, floats (1e-3), quoted strings, [lists], {dicts: 1},
// interpolations ${...}. For --multirun, `a,b,c`, `range(start,stop[,step])` and
// `choice(a,b)` are sweeps.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/node.h"

namespace vitrine::config {

enum class OverrideType { Change, Add, ForceAdd, Delete };

struct Override {
  OverrideType type = OverrideType::Change;
  std::string key;      // "trainer.epochs", "model", "model/backbone"
  std::string package;  // from `group@package=option`, else empty
  bool has_value = false;
  Node value;               // valid when has_value and not a sweep
  std::vector<Node> sweep;  // the values of a sweep; empty when not a sweep
  std::string text;         // the override as typed

  bool is_sweep() const { return !sweep.empty(); }
  // The override with `value` in place of its sweep, as `key=value` text.
  std::string with_value_text(const Node& value) const;
};

// Parses one override. Throws ConfigError naming the override on a syntax error.
Override parse_override(const std::string& text);

// Parses a value in the override grammar (lists, dicts, quoting, sweeps).
// Returns one element for a plain value, several for a sweep.
std::vector<Node> parse_override_value(const std::string& text, bool& is_sweep);

}  // namespace vitrine::config
