#include "config/view.h"

#include <algorithm>

#include "config/option_table.h"
#include "config/path.h"
#include "core/error.h"
#include "core/text.h"

namespace vitrine::config {

ConfigView::ConfigView(Node resolved, std::string path)
    : node_(std::move(resolved)), path_(std::move(path)) {
  if (!node_.is_dict())
    throw ConfigError("Config node '" + path_ + "' must be a dict, got a " +
                      kind_name(node_.kind()));
}

std::string ConfigView::full(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

bool ConfigView::has(const std::string& key) const {
  return find_path(node_, split_path(key)) != nullptr;
}

const Node& ConfigView::require(const std::string& key) const {
  const Node* n = find_path(node_, split_path(key));
  if (!n) throw ConfigError("Missing config key '" + full(key) + "'");
  if (n->is_missing()) throw ConfigError("Missing mandatory value: " + full(key));
  return *n;
}

void ConfigView::wrong_type(const std::string& key, const char* wanted, const Node& got) const {
  throw ConfigError("Config key '" + full(key) + "' must be " + wanted + ", got " +
                    kind_name(got.kind()) + " '" + got.to_string() + "'");
}

int64_t ConfigView::get_int(const std::string& key) const {
  const Node& n = require(key);
  if (!n.is_int()) wrong_type(key, "an int", n);
  return n.as_int();
}

int64_t ConfigView::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

double ConfigView::get_float(const std::string& key) const {
  const Node& n = require(key);
  if (n.is_int()) return static_cast<double>(n.as_int());
  if (!n.is_float()) wrong_type(key, "a number", n);
  return n.as_float();
}

double ConfigView::get_float(const std::string& key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}

bool ConfigView::get_bool(const std::string& key) const {
  const Node& n = require(key);
  if (!n.is_bool()) wrong_type(key, "true or false", n);
  return n.as_bool();
}

bool ConfigView::get_bool(const std::string& key, bool fallback) const {
  return has(key) ? get_bool(key) : fallback;
}

std::string ConfigView::get_string(const std::string& key) const {
  const Node& n = require(key);
  if (!n.is_string()) wrong_type(key, "a string", n);
  return n.as_string();
}

std::string ConfigView::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

std::optional<std::string> ConfigView::get_optional_string(const std::string& key) const {
  const Node& n = require(key);
  if (n.is_null()) return std::nullopt;
  if (!n.is_string()) wrong_type(key, "a string or null", n);
  return n.as_string();
}

std::vector<int64_t> ConfigView::get_int_list(const std::string& key) const {
  const Node& n = require(key);
  if (!n.is_list()) wrong_type(key, "a list of ints", n);
  std::vector<int64_t> out;
  for (const auto& item : n.as_list()) {
    if (!item.is_int()) wrong_type(key, "a list of ints", n);
    out.push_back(item.as_int());
  }
  return out;
}

std::vector<double> ConfigView::get_float_list(const std::string& key) const {
  const Node& n = require(key);
  if (!n.is_list()) wrong_type(key, "a list of numbers", n);
  std::vector<double> out;
  for (const auto& item : n.as_list()) {
    if (item.is_int())
      out.push_back(static_cast<double>(item.as_int()));
    else if (item.is_float())
      out.push_back(item.as_float());
    else
      wrong_type(key, "a list of numbers", n);
  }
  return out;
}

ConfigView ConfigView::child(const std::string& key) const {
  const Node& n = require(key);
  if (!n.is_dict()) wrong_type(key, "a dict", n);
  return ConfigView(n, full(key));
}

void ConfigView::expect_keys(std::initializer_list<const char*> allowed) const {
  reject_unknown_keys(*this, std::vector<std::string>(allowed.begin(), allowed.end()));
}

}  // namespace vitrine::config
