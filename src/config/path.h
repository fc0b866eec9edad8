// Dotted key paths into a config tree: "trainer.epochs", "model.depths.0", "a[1].b".
#pragma once

#include <string>
#include <vector>

#include "config/node.h"

namespace vitrine::config {

using KeyPath = std::vector<std::string>;

// Splits "a.b[0].c" into {"a", "b", "0", "c"}. Throws ConfigError on an empty segment.
KeyPath split_path(const std::string& dotted);
std::string join_path(const KeyPath& path);

// Walks a path through dicts (by key) and lists (by decimal index). nullptr if absent.
const Node* find_path(const Node& root, const KeyPath& path);
Node* find_path(Node& root, const KeyPath& path);

// Sets the value at `path`, creating intermediate dicts. Throws ConfigError when a
// path segment crosses a scalar or indexes a list out of range.
void set_path(Node& root, const KeyPath& path, Node value);

// Removes the value at `path`; returns false when nothing was there.
bool erase_path(Node& root, const KeyPath& path);

}  // namespace vitrine::config
