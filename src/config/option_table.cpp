#include "config/option_table.h"

#include <algorithm>

#include "core/error.h"
#include "core/text.h"

namespace vitrine::config {

void read_value(const ConfigView& view, const std::string& key, int64_t& out) {
  out = view.get_int(key);
}
void read_value(const ConfigView& view, const std::string& key, int& out) {
  out = static_cast<int>(view.get_int(key));
}
void read_value(const ConfigView& view, const std::string& key, double& out) {
  out = view.get_float(key);
}
void read_value(const ConfigView& view, const std::string& key, bool& out) {
  out = view.get_bool(key);
}
void read_value(const ConfigView& view, const std::string& key, std::string& out) {
  out = view.get_string(key);
}
void read_value(const ConfigView& view, const std::string& key, std::vector<int64_t>& out) {
  out = view.get_int_list(key);
}
void read_value(const ConfigView& view, const std::string& key, std::vector<double>& out) {
  out = view.get_float_list(key);
}

void read_value(const ConfigView& view, const std::string& key, std::vector<std::string>& out) {
  const Node* node = view.node().find(key);
  if (!node->is_list())
    throw ConfigError("Config key '" + view.path() + "." + key +
                      "' must be a list of strings, got " + node->to_string());
  out.clear();
  for (const Node& item : node->as_list()) {
    if (!item.is_string())
      throw ConfigError("Config key '" + view.path() + "." + key +
                        "' must be a list of strings, got " + node->to_string());
    out.push_back(item.as_string());
  }
}

void reject_unknown_keys(const ConfigView& view, const std::vector<std::string>& known) {
  for (const auto& key : view.node().keys()) {
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw ConfigError("Unknown config key '" +
                        (view.path().empty() ? key : view.path() + "." + key) + "'" +
                        did_you_mean(key, known) + ". Known keys: " + join(known, ", "));
  }
}

void throw_missing_key(const ConfigView& view, const std::string& key) {
  throw ConfigError("Missing config key '" + (view.path().empty() ? key : view.path() + "." + key) +
                    "'");
}

}  // namespace vitrine::config
