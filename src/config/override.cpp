#include "config/override.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "config/yaml_io.h"
#include "core/error.h"

namespace vitrine::config {
namespace {

// Recursive-descent parser over one override value.
class ValueParser {
 public:
  explicit ValueParser(const std::string& text) : s_(text) {}

  std::vector<Node> parse_top(bool& is_sweep) {
    std::vector<Node> items;
    skip_ws();
    if (at_end()) return {Node(std::string())};  // Hydra reads `key=` as an empty string
    // Sweep functions.
    for (const char* fn : {"range(", "choice("}) {
      if (s_.compare(pos_, std::string(fn).size(), fn) == 0) {
        std::string name(fn);
        name.pop_back();
        pos_ += name.size() + 1;
        std::vector<Node> args = parse_sequence(')');
        skip_ws();
        if (!at_end()) fail("unexpected text after " + name + "(...)");
        is_sweep = true;
        return name == "range" ? expand_range(args) : args;
      }
    }
    items.push_back(parse_element());
    skip_ws();
    while (!at_end() && peek() == ',') {
      ++pos_;
      items.push_back(parse_element());
      skip_ws();
    }
    if (!at_end()) fail("unexpected '" + std::string(1, peek()) + "'");
    is_sweep = items.size() > 1;
    return items;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw ConfigError("Error parsing override value '" + s_ + "' at column " +
                      std::to_string(pos_ + 1) + ": " + why);
  }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }
  void skip_ws() {
    while (!at_end() && (peek() == ' ' || peek() == '\t')) ++pos_;
  }

  Node parse_element() {
    skip_ws();
    if (at_end()) return Node(std::string());
    char c = peek();
    if (c == '[') {
      ++pos_;
      return Node(parse_sequence(']'));
    }
    if (c == '{') return parse_dict();
    if (c == '\'' || c == '"') return Node(parse_quoted());
    return parse_unquoted();
  }

  // Comma-separated elements up to `close` (already past the opener).
  List parse_sequence(char close) {
    List items;
    skip_ws();
    if (!at_end() && peek() == close) {
      ++pos_;
      return items;
    }
    while (true) {
      items.push_back(parse_element());
      skip_ws();
      if (at_end()) fail(std::string("missing '") + close + "'");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == close) {
        ++pos_;
        return items;
      }
      fail("expected ',' or '" + std::string(1, close) + "'");
    }
  }

  Node parse_dict() {
    ++pos_;  // '{'
    Node dict = Node::dict();
    skip_ws();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return dict;
    }
    while (true) {
      skip_ws();
      size_t start = pos_;
      while (!at_end() && peek() != ':' && peek() != ',' && peek() != '}') ++pos_;
      std::string key = s_.substr(start, pos_ - start);
      while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
      if (key.size() >= 2 && (key[0] == '\'' || key[0] == '"') && key.back() == key[0])
        key = key.substr(1, key.size() - 2);
      if (key.empty()) fail("empty dict key");
      if (at_end() || peek() != ':') fail("expected ':' after dict key '" + key + "'");
      ++pos_;
      dict.set(key, parse_element());
      skip_ws();
      if (at_end()) fail("missing '}'");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return dict;
      }
      fail("expected ',' or '}'");
    }
  }

  std::string parse_quoted() {
    char quote = peek();
    ++pos_;
    std::string out;
    while (!at_end() && peek() != quote) {
      if (peek() == '\\' && pos_ + 1 < s_.size() && s_[pos_ + 1] == quote) ++pos_;
      out += peek();
      ++pos_;
    }
    if (at_end()) fail(std::string("unterminated ") + quote + "-quoted string");
    ++pos_;
    return out;
  }

  // Everything up to a structural character at brace depth 0; `${...}` may contain any.
  Node parse_unquoted() {
    std::string out;
    int interp_depth = 0;
    while (!at_end()) {
      char c = peek();
      if (c == '\\' && pos_ + 1 < s_.size()) {  // escaped structural character
        out += s_[pos_ + 1];
        pos_ += 2;
        continue;
      }
      if (c == '$' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '{') {
        ++interp_depth;
        out += "${";
        pos_ += 2;
        continue;
      }
      if (interp_depth > 0) {
        if (c == '}') --interp_depth;
        out += c;
        ++pos_;
        continue;
      }
      if (c == ',' || c == ']' || c == '}' || c == '[' || c == '{' || c == '(' || c == ')') break;
      out += c;
      ++pos_;
    }
    if (interp_depth > 0) fail("unterminated '${'");
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
    if (out.find("${") != std::string::npos) return Node(out);
    return parse_plain_scalar(out);
  }

  std::vector<Node> expand_range(const std::vector<Node>& args) const {
    if (args.empty() || args.size() > 3) fail("range() takes 1 to 3 numbers");
    for (const auto& a : args)
      if (!a.is_int() && !a.is_float()) fail("range() arguments must be numbers");
    auto num = [](const Node& n) { return n.is_int() ? double(n.as_int()) : n.as_float(); };
    bool all_int = std::all_of(args.begin(), args.end(), [](const Node& n) { return n.is_int(); });
    double start = args.size() == 1 ? 0 : num(args[0]);
    double stop = args.size() == 1 ? num(args[0]) : num(args[1]);
    double step = args.size() == 3 ? num(args[2]) : 1;
    if (step == 0) fail("range() step must not be zero");
    std::vector<Node> out;
    for (size_t i = 0;; ++i) {
      double v = start + double(i) * step;
      if ((step > 0 && v >= stop) || (step < 0 && v <= stop)) break;
      if (out.size() > 100000) fail("range() produces too many values");
      out.push_back(all_int ? Node(static_cast<int64_t>(std::llround(v))) : Node(v));
    }
    if (out.empty()) fail("range() is empty");
    return out;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<Node> parse_override_value(const std::string& text, bool& is_sweep) {
  is_sweep = false;
  ValueParser parser(text);
  return parser.parse_top(is_sweep);
}

Override parse_override(const std::string& text) {
  Override o;
  o.text = text;
  size_t pos = 0;
  if (text.rfind("++", 0) == 0) {
    o.type = OverrideType::ForceAdd;
    pos = 2;
  } else if (text.rfind('+', 0) == 0) {
    o.type = OverrideType::Add;
    pos = 1;
  } else if (text.rfind('~', 0) == 0) {
    o.type = OverrideType::Delete;
    pos = 1;
  }
  size_t eq = text.find('=', pos);
  std::string key = text.substr(pos, eq == std::string::npos ? std::string::npos : eq - pos);
  if (key.empty())
    throw ConfigError("Error parsing override '" + text + "': missing key before '='");
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' ||
          c == '-' || c == '@' || c == '[' || c == ']'))
      throw ConfigError("Error parsing override '" + text + "': invalid character '" +
                        std::string(1, c) + "' in key '" + key + "'");
  }
  size_t at = key.find('@');
  if (at != std::string::npos) {
    o.package = key.substr(at + 1);
    key = key.substr(0, at);
  }
  o.key = key;
  if (eq == std::string::npos) {
    if (o.type != OverrideType::Delete)
      throw ConfigError("Error parsing override '" + text +
                        "': expected key=value (only ~key may omit the value)");
    return o;
  }
  o.has_value = true;
  bool is_sweep = false;
  std::vector<Node> values = parse_override_value(text.substr(eq + 1), is_sweep);
  if (is_sweep)
    o.sweep = std::move(values);
  else
    o.value = values.front();
  return o;
}

std::string Override::with_value_text(const Node& v) const {
  std::string prefix;
  switch (type) {
    case OverrideType::Add: prefix = "+"; break;
    case OverrideType::ForceAdd: prefix = "++"; break;
    case OverrideType::Delete: prefix = "~"; break;
    case OverrideType::Change: break;
  }
  std::string k = key + (package.empty() ? "" : "@" + package);
  std::string rendered = v.is_string() && !parse_plain_scalar(v.as_string()).is_string()
                             ? "'" + v.as_string() + "'"
                             : v.to_string();
  return prefix + k + "=" + rendered;
}

}  // namespace vitrine::config
