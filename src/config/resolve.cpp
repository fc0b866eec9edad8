#include "config/resolve.h"

#include <algorithm>
#include <cstdlib>

#include "config/yaml_io.h"
#include "core/error.h"

namespace vitrine::config {
namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Index of the `}` closing the `${` that starts at `open`, honouring nesting.
size_t matching_brace(const std::string& s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
      ++depth;
      ++i;
    } else if (s[i] == '}') {
      if (--depth == 0) return i;
    }
  }
  return std::string::npos;
}

// Splits resolver arguments on top-level commas (not inside `${...}` or quotes).
std::vector<std::string> split_args(const std::string& s) {
  std::vector<std::string> out;
  std::string current;
  int depth = 0;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
      current += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      current += c;
    } else if (c == '$' && i + 1 < s.size() && s[i + 1] == '{') {
      ++depth;
      current += c;
    } else if (c == '}' && depth > 0) {
      --depth;
      current += c;
    } else if (c == ',' && depth == 0) {
      out.push_back(trim(current));
      current.clear();
    } else {
      current += c;
    }
  }
  out.push_back(trim(current));
  return out;
}

std::string unquote(const std::string& s) {
  if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"') && s.back() == s.front())
    return s.substr(1, s.size() - 2);
  return s;
}

std::string describe_chain(const std::vector<KeyPath>& stack, const KeyPath& again) {
  std::string chain;
  for (const auto& p : stack) chain += join_path(p) + " -> ";
  return chain + join_path(again);
}

}  // namespace

Resolver::Resolver(const Node& root, std::time_t now) : root_(root), now_(now) {}

Node Resolver::resolve(const KeyPath& path) const {
  const Node* node = find_path(root_, path);
  if (!node) throw ConfigError("Key '" + join_path(path) + "' is not in the config");
  std::vector<KeyPath> stack{path};
  return resolve_node(*node, path, stack, /*keep_missing=*/true);
}

Node Resolver::resolve_all() const {
  std::vector<KeyPath> stack;
  return resolve_node(root_, {}, stack, /*keep_missing=*/true);
}

Node Resolver::resolve_node(const Node& node, const KeyPath& at, std::vector<KeyPath>& stack,
                            bool keep_missing) const {
  if (node.is_dict()) {
    Node out = Node::dict();
    for (const auto& [key, child] : node.as_dict()) {
      KeyPath child_path = at;
      child_path.push_back(key);
      out.set(key, resolve_node(child, child_path, stack, keep_missing));
    }
    return out;
  }
  if (node.is_list()) {
    List out;
    for (size_t i = 0; i < node.as_list().size(); ++i) {
      KeyPath child_path = at;
      child_path.push_back(std::to_string(i));
      out.push_back(resolve_node(node.as_list()[i], child_path, stack, keep_missing));
    }
    return Node(std::move(out));
  }
  if (node.is_missing() && !keep_missing)
    throw ConfigError("Missing mandatory value: " + join_path(at));
  if (node.is_string() && (node.as_string().find("${") != std::string::npos ||
                           node.as_string().find("\\$") != std::string::npos))
    return resolve_string(node.as_string(), at, stack);
  return node;
}

Node Resolver::resolve_string(const std::string& text, const KeyPath& at,
                              std::vector<KeyPath>& stack) const {
  // A string that is exactly one interpolation keeps the referenced value's type.
  if (text.rfind("${", 0) == 0 && matching_brace(text, 0) == text.size() - 1)
    return evaluate(text.substr(2, text.size() - 3), at, stack);

  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 2 < text.size() && text[i + 1] == '$' && text[i + 2] == '{') {
      out += "${";
      i += 2;
      continue;
    }
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      size_t close = matching_brace(text, i);
      if (close == std::string::npos)
        throw ConfigError("Unterminated interpolation in '" + join_path(at) + "': " + text);
      Node value = evaluate(text.substr(i + 2, close - i - 2), at, stack);
      if (!value.is_scalar())
        throw ConfigError("Cannot embed a " + std::string(kind_name(value.kind())) +
                          " in a string at '" + join_path(at) + "': " + text);
      out += value.to_string();
      i = close;
      continue;
    }
    out += text[i];
  }
  return Node(out);
}

Node Resolver::evaluate(const std::string& raw_expr, const KeyPath& at,
                        std::vector<KeyPath>& stack) const {
  const std::string expr = trim(raw_expr);
  // A resolver call has a name (letters, digits, dots, underscores) followed by ':'.
  size_t colon = expr.find(':');
  bool is_call = colon != std::string::npos && colon > 0 &&
                 std::all_of(expr.begin(), expr.begin() + static_cast<long>(colon), [](char c) {
                   return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_';
                 });
  if (!is_call) {
    // Key reference, possibly relative and possibly built from nested interpolations.
    std::string key = expr;
    if (key.find("${") != std::string::npos) key = resolve_string(key, at, stack).to_string();
    KeyPath target;
    if (!key.empty() && key[0] == '.') {
      size_t dots = 0;
      while (dots < key.size() && key[dots] == '.') ++dots;
      // `.x` is a sibling of the node holding the string; each extra dot climbs one level.
      if (at.empty() || dots > at.size())
        throw ConfigError("Relative interpolation '${" + expr + "}' at '" + join_path(at) +
                          "' climbs above the root");
      target.assign(at.begin(), at.end() - static_cast<long>(dots));
      KeyPath rest = split_path(key.substr(dots));
      target.insert(target.end(), rest.begin(), rest.end());
    } else {
      target = split_path(key);
    }
    return lookup(target, expr, at, stack);
  }

  const std::string name = expr.substr(0, colon);
  std::vector<std::string> args = split_args(expr.substr(colon + 1));
  auto arg_value = [&](size_t i) {
    return unquote(resolve_string(args[i], at, stack).to_string());
  };

  if (name == "oc.env") {
    if (args.empty() || args[0].empty())
      throw ConfigError("${oc.env:...} at '" + join_path(at) + "' needs a variable name");
    const std::string var = arg_value(0);
    if (const char* v = std::getenv(var.c_str())) return Node(std::string(v));
    if (args.size() < 2)
      throw ConfigError("Environment variable '" + var + "' is not set (needed by '" +
                        join_path(at) + "')");
    Node fallback = parse_plain_scalar(arg_value(1));
    return fallback.is_null() ? Node() : Node(arg_value(1));
  }
  if (name == "now") {
    std::string format = args.empty() ? "%Y-%m-%d_%H-%M-%S" : arg_value(0);
    std::tm local{};
    localtime_r(&now_, &local);
    char buf[256];
    size_t n = std::strftime(buf, sizeof(buf), format.c_str(), &local);
    return Node(std::string(buf, n));
  }
  if (name == "oc.select") {
    if (args.empty()) throw ConfigError("${oc.select:...} at '" + join_path(at) + "' needs a key");
    KeyPath target = split_path(arg_value(0));
    const Node* node = find_path(root_, target);
    if (!node || node->is_missing())
      return args.size() > 1 ? parse_plain_scalar(arg_value(1)) : Node();
    return lookup(target, expr, at, stack);
  }
  if (name == "hydra") {
    KeyPath target = split_path(arg_value(0));
    target.insert(target.begin(), "hydra");
    return lookup(target, expr, at, stack);
  }
  throw ConfigError("Unsupported interpolation type '" + name + "' in '" + join_path(at) +
                    "' (known: oc.env, oc.select, now, hydra)");
}

Node Resolver::lookup(const KeyPath& target, const std::string& expr, const KeyPath& at,
                      std::vector<KeyPath>& stack) const {
  const Node* node = find_path(root_, target);
  if (!node)
    throw ConfigError("Interpolation key '" + join_path(target) + "' not found (in '" +
                      join_path(at) + ": ${" + expr + "}')");
  if (std::find(stack.begin(), stack.end(), target) != stack.end())
    throw ConfigError("Interpolation cycle: " + describe_chain(stack, target));
  if (node->is_missing())
    throw ConfigError("Missing mandatory value: " + join_path(target) + " (needed by '" +
                      join_path(at) + "')");
  stack.push_back(target);
  Node value = resolve_node(*node, target, stack, /*keep_missing=*/false);
  stack.pop_back();
  return value;
}

void require_complete(const Node& resolved, const std::string& prefix) {
  auto child = [&](const std::string& key) { return prefix.empty() ? key : prefix + "." + key; };
  if (resolved.is_missing()) throw ConfigError("Missing mandatory value: " + prefix);
  if (resolved.is_dict())
    for (const auto& [key, value] : resolved.as_dict()) require_complete(value, child(key));
  if (resolved.is_list())
    for (size_t i = 0; i < resolved.as_list().size(); ++i)
      require_complete(resolved.as_list()[i], child(std::to_string(i)));
}

}  // namespace vitrine::config
