#include "config/path.h"

#include <cctype>

#include "core/error.h"

namespace vitrine::config {

KeyPath split_path(const std::string& dotted) {
  KeyPath out;
  if (dotted.empty()) return out;
  std::string current;
  bool after_bracket = false;
  for (size_t i = 0; i < dotted.size(); ++i) {
    char c = dotted[i];
    if (c == '.') {
      if (current.empty() && !after_bracket)
        throw ConfigError("Invalid key path '" + dotted + "': empty segment");
      if (!current.empty()) out.push_back(current);
      current.clear();
      after_bracket = false;
    } else if (c == '[') {
      if (!current.empty()) out.push_back(current);
      current.clear();
      size_t close = dotted.find(']', i);
      if (close == std::string::npos)
        throw ConfigError("Invalid key path '" + dotted + "': unclosed '['");
      out.push_back(dotted.substr(i + 1, close - i - 1));
      i = close;
      after_bracket = true;
    } else {
      current += c;
      after_bracket = false;
    }
  }
  if (!current.empty())
    out.push_back(current);
  else if (!after_bracket)
    throw ConfigError("Invalid key path '" + dotted + "': empty segment");
  return out;
}

std::string join_path(const KeyPath& path) {
  std::string s;
  for (size_t i = 0; i < path.size(); ++i) {
    if (i) s += '.';
    s += path[i];
  }
  return s;
}

static bool parse_index(const std::string& segment, size_t& index) {
  if (segment.empty()) return false;
  for (char c : segment)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  index = std::stoul(segment);
  return true;
}

const Node* find_path(const Node& root, const KeyPath& path) {
  const Node* node = &root;
  for (const auto& segment : path) {
    if (node->is_dict()) {
      node = node->find(segment);
    } else if (node->is_list()) {
      size_t index = 0;
      if (!parse_index(segment, index) || index >= node->as_list().size()) return nullptr;
      node = &node->as_list()[index];
    } else {
      return nullptr;
    }
    if (!node) return nullptr;
  }
  return node;
}

Node* find_path(Node& root, const KeyPath& path) {
  return const_cast<Node*>(find_path(static_cast<const Node&>(root), path));
}

void set_path(Node& root, const KeyPath& path, Node value) {
  if (path.empty()) {
    root = std::move(value);
    return;
  }
  Node* node = &root;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    const auto& segment = path[i];
    if (node->is_list()) {
      size_t index = 0;
      if (!parse_index(segment, index) || index >= node->as_list().size())
        throw ConfigError("Cannot set '" + join_path(path) + "': list index '" + segment +
                          "' out of range");
      node = &node->as_list()[index];
      continue;
    }
    if (!node->is_dict()) {
      if (!node->is_null())
        throw ConfigError("Cannot set '" + join_path(path) + "': '" +
                          join_path(KeyPath(path.begin(), path.begin() + i)) + "' is a " +
                          kind_name(node->kind()) + ", not a dict");
      *node = Node::dict();
    }
    Node* child = node->find(segment);
    if (!child) {
      node->set(segment, Node::dict());
      child = node->find(segment);
    }
    node = child;
  }
  const auto& last = path.back();
  if (node->is_list()) {
    size_t index = 0;
    if (!parse_index(last, index) || index >= node->as_list().size())
      throw ConfigError("Cannot set '" + join_path(path) + "': list index '" + last +
                        "' out of range");
    node->as_list()[index] = std::move(value);
    return;
  }
  if (!node->is_dict() && !node->is_null())
    throw ConfigError("Cannot set '" + join_path(path) + "': parent is a " +
                      kind_name(node->kind()) + ", not a dict");
  node->set(last, std::move(value));
}

bool erase_path(Node& root, const KeyPath& path) {
  if (path.empty()) return false;
  Node* parent = find_path(root, KeyPath(path.begin(), path.end() - 1));
  if (!parent) return false;
  if (parent->is_dict()) return parent->erase(path.back());
  if (parent->is_list()) {
    size_t index = 0;
    if (!parse_index(path.back(), index) || index >= parent->as_list().size()) return false;
    parent->as_list().erase(parent->as_list().begin() + static_cast<long>(index));
    return true;
  }
  return false;
}

}  // namespace vitrine::config
