#include "config/node.h"

#include <charconv>
#include <cmath>
#include <sstream>

namespace vitrine::config {

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "string";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
  }
  return "?";
}

bool Node::is_missing() const {
  return is_string() && as_string() == "???";
}

bool Node::is_interpolation() const {
  return is_string() && as_string().find("${") != std::string::npos;
}

const Node* Node::find(const std::string& key) const {
  if (!is_dict()) return nullptr;
  for (const auto& [k, v] : as_dict())
    if (k == key) return &v;
  return nullptr;
}

Node* Node::find(const std::string& key) {
  return const_cast<Node*>(static_cast<const Node*>(this)->find(key));
}

void Node::set(const std::string& key, Node value) {
  if (!is_dict()) value_ = Dict{};
  if (Node* existing = find(key)) {
    *existing = std::move(value);
    return;
  }
  as_dict().emplace_back(key, std::move(value));
}

bool Node::erase(const std::string& key) {
  if (!is_dict()) return false;
  auto& d = as_dict();
  for (auto it = d.begin(); it != d.end(); ++it) {
    if (it->first == key) {
      d.erase(it);
      return true;
    }
  }
  return false;
}

std::vector<std::string> Node::keys() const {
  std::vector<std::string> out;
  if (is_dict())
    for (const auto& kv : as_dict()) out.push_back(kv.first);
  return out;
}

size_t Node::size() const {
  if (is_dict()) return as_dict().size();
  if (is_list()) return as_list().size();
  return 0;
}

std::string format_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  // Shortest representation that round-trips.
  auto res = std::to_chars(buf, buf + sizeof(buf), value);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string Node::to_string() const {
  switch (kind()) {
    case Kind::Null: return "null";
    case Kind::Bool: return as_bool() ? "true" : "false";
    case Kind::Int: return std::to_string(as_int());
    case Kind::Float: return format_float(as_float());
    case Kind::String: return as_string();
    case Kind::List: {
      std::string s = "[";
      for (size_t i = 0; i < as_list().size(); ++i) {
        if (i) s += ", ";
        s += as_list()[i].to_string();
      }
      return s + "]";
    }
    case Kind::Dict: {
      std::string s = "{";
      bool first = true;
      for (const auto& [k, v] : as_dict()) {
        if (!first) s += ", ";
        first = false;
        s += k + ": " + v.to_string();
      }
      return s + "}";
    }
  }
  return "";
}

void merge_into(Node& dst, const Node& src) {
  if (dst.is_dict() && src.is_dict()) {
    for (const auto& [key, value] : src.as_dict()) {
      Node* existing = dst.find(key);
      if (!existing) {
        dst.set(key, value);
      } else if (value.is_missing()) {
        // OmegaConf keeps the existing value when the incoming one is `???`.
        continue;
      } else {
        merge_into(*existing, value);
      }
    }
    return;
  }
  dst = src;
}

}  // namespace vitrine::config
