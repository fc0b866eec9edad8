// The configuration tree: a small JSON-like value (null, bool, int, float, string, list,
// ordered dict) with value semantics. Strings may hold `${...}` interpolations, resolved
// on read (see resolve.h); the literal `???` marks a mandatory value that is still unset.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace vitrine::config {

class Node;
using List = std::vector<Node>;
// Ordered: YAML files and dumps keep their key order, as OmegaConf does.
using Dict = std::vector<std::pair<std::string, Node>>;

enum class Kind { Null, Bool, Int, Float, String, List, Dict };

const char* kind_name(Kind kind);

class Node {
 public:
  Node() = default;
  Node(std::nullptr_t) {}
  Node(bool v) : value_(v) {}
  Node(int v) : value_(static_cast<int64_t>(v)) {}
  Node(int64_t v) : value_(v) {}
  Node(double v) : value_(v) {}
  Node(const char* v) : value_(std::string(v)) {}
  Node(std::string v) : value_(std::move(v)) {}
  Node(List v) : value_(std::move(v)) {}
  Node(Dict v) : value_(std::move(v)) {}

  static Node dict() { return Node(Dict{}); }
  static Node list() { return Node(List{}); }

  Kind kind() const { return static_cast<Kind>(value_.index()); }
  bool is_null() const { return kind() == Kind::Null; }
  bool is_bool() const { return kind() == Kind::Bool; }
  bool is_int() const { return kind() == Kind::Int; }
  bool is_float() const { return kind() == Kind::Float; }
  bool is_string() const { return kind() == Kind::String; }
  bool is_list() const { return kind() == Kind::List; }
  bool is_dict() const { return kind() == Kind::Dict; }
  bool is_scalar() const { return !is_list() && !is_dict(); }
  // `???`: a mandatory value nobody has set yet.
  bool is_missing() const;
  // A string containing `${`: its value depends on other nodes.
  bool is_interpolation() const;

  // Unchecked accessors: callers check kind() first (typed getters in access.h do).
  bool as_bool() const { return std::get<bool>(value_); }
  int64_t as_int() const { return std::get<int64_t>(value_); }
  double as_float() const { return std::get<double>(value_); }
  const std::string& as_string() const { return std::get<std::string>(value_); }
  const List& as_list() const { return std::get<List>(value_); }
  List& as_list() { return std::get<List>(value_); }
  const Dict& as_dict() const { return std::get<Dict>(value_); }
  Dict& as_dict() { return std::get<Dict>(value_); }

  // Dict helpers. find() returns nullptr when absent.
  const Node* find(const std::string& key) const;
  Node* find(const std::string& key);
  // Inserts (at the end) or replaces.
  void set(const std::string& key, Node value);
  bool erase(const std::string& key);
  std::vector<std::string> keys() const;

  size_t size() const;

  // Scalar rendering used by string interpolation and messages: `1e-3` -> "0.001",
  // true -> "true", null -> "null"; containers render as flow YAML.
  std::string to_string() const;

  friend bool operator==(const Node& a, const Node& b) { return a.value_ == b.value_; }
  friend bool operator!=(const Node& a, const Node& b) { return !(a == b); }

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, List, Dict> value_;
};

// Formats a double so that it reads back as a float: 1 -> "1.0", 1e-3 -> "0.001".
std::string format_float(double value);

// Recursive merge as OmegaConf.merge: dicts merge key by key, everything else (lists
// included) is replaced by `src`.
void merge_into(Node& dst, const Node& src);

}  // namespace vitrine::config
