// OmegaConf-style interpolation: `${a.b}` (absolute), `${.x}` / `${..x}` (relative to the
// node holding the string), string interpolation ("run_${seed}"), and resolvers
// `${oc.env:VAR,default}`, `${oc.select:key,default}`, `${now:%Y-%m-%d}`, `${hydra:key}`.
// `\${` escapes a literal `${`. Cycles are detected and reported with the chain.
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "config/node.h"
#include "config/path.h"

namespace vitrine::config {

class Resolver {
 public:
  // `now` fixes the clock for `${now:...}` so every use within one run agrees (Hydra caches
  // it the same way).
  explicit Resolver(const Node& root, std::time_t now = std::time(nullptr));

  // The value at `path` with every interpolation inside it resolved. Throws ConfigError for
  // an absent key, a `???` value read through an interpolation, or a cycle.
  Node resolve(const KeyPath& path) const;

  // The whole tree resolved. Unset mandatory values (`???`) stay as they are, so a dump
  // shows them; reading one through a typed getter is the error.
  Node resolve_all() const;

 private:
  Node resolve_node(const Node& node, const KeyPath& at, std::vector<KeyPath>& stack,
                    bool keep_missing) const;
  Node resolve_string(const std::string& text, const KeyPath& at,
                      std::vector<KeyPath>& stack) const;
  Node evaluate(const std::string& expr, const KeyPath& at, std::vector<KeyPath>& stack) const;
  Node lookup(const KeyPath& target, const std::string& expr, const KeyPath& at,
              std::vector<KeyPath>& stack) const;

  const Node& root_;
  std::time_t now_;
};

// Throws ConfigError naming the first `???` left in a resolved tree: a job must not start
// with a mandatory value unset.
void require_complete(const Node& resolved, const std::string& prefix = "");

}  // namespace vitrine::config
