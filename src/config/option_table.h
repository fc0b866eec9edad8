// The config keys a component takes, each declared once with where its value goes: the table
// is both the reader and the list of known keys, so "unknown keys are errors" cannot drift from
// what is read (detectron2's from_config and timm's kwargs in one place). A key absent from the
// config leaves the field's default.
//
//   const auto table = config::OptionTable<ResNetConfig>()
//                          .field("num_classes", &ResNetConfig::num_classes)
//                          .field("base_width", &ResNetConfig::base_width);
//   ResNetConfig c = table.apply(view, defaults);
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/view.h"

namespace vitrine::config {

// Typed reads of `key` from `view` into a field (the field types config structs use).
void read_value(const ConfigView& view, const std::string& key, int64_t& out);
void read_value(const ConfigView& view, const std::string& key, int& out);
void read_value(const ConfigView& view, const std::string& key, double& out);
void read_value(const ConfigView& view, const std::string& key, bool& out);
void read_value(const ConfigView& view, const std::string& key, std::string& out);
void read_value(const ConfigView& view, const std::string& key, std::vector<int64_t>& out);
void read_value(const ConfigView& view, const std::string& key, std::vector<double>& out);
void read_value(const ConfigView& view, const std::string& key, std::vector<std::string>& out);
// Nullable keys: null reads as nullopt.
template <typename T>
void read_value(const ConfigView& view, const std::string& key, std::optional<T>& out) {
  if (view.node().find(key)->is_null()) {
    out.reset();
    return;
  }
  T value{};
  read_value(view, key, value);
  out = std::move(value);
}

// Throws ConfigError for a key of `view` that is not in `known` (with a did-you-mean).
void reject_unknown_keys(const ConfigView& view, const std::vector<std::string>& known);
// Throws ConfigError naming the missing key (as ConfigView's getters do).
[[noreturn]] void throw_missing_key(const ConfigView& view, const std::string& key);

template <typename Config>
class OptionTable {
 public:
  // Reads the key's value (present keys only) into `config`.
  using Reader =
      std::function<void(Config& config, const ConfigView& view, const std::string& key)>;

  // A key stored in a member of Config.
  template <typename Field>
  OptionTable& field(const char* key, Field Config::*member) {
    return custom(key, [member](Config& c, const ConfigView& v, const std::string& k) {
      read_value(v, k, c.*member);
    });
  }
  // A key stored where `access(config)` points (nested option structs).
  template <typename Access>
  OptionTable& field_at(const char* key, Access access) {
    return custom(key, [access](Config& c, const ConfigView& v, const std::string& k) {
      read_value(v, k, access(c));
    });
  }
  // A key with its own parsing.
  OptionTable& custom(const char* key, Reader reader) {
    entries_.push_back({key, std::move(reader), false});
    return *this;
  }
  // Marks the key declared last as mandatory: apply() then fails when it is absent.
  OptionTable& required() {
    entries_.back().required = true;
    return *this;
  }
  // A key that is valid here but read by someone else (the registry's `name`, a backbone's
  // node): known, never read into Config.
  OptionTable& known(const char* key) {
    entries_.push_back({key, Reader(), false});
    return *this;
  }
  // Several such keys (another reader's keys(), so they are declared only there).
  OptionTable& known(const std::vector<std::string>& keys) {
    for (const std::string& key : keys) entries_.push_back({key, Reader(), false});
    return *this;
  }
  // The declared keys, in order.
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) out.push_back(e.key);
    return out;
  }

  // Rejects keys outside the table, then reads every present key over `config`.
  Config apply(const ConfigView& view, Config config) const {
    apply_to(view, config);
    return config;
  }
  // The same, in place (a component reading its own keys into itself).
  void apply_to(const ConfigView& view, Config& config) const {
    reject_unknown_keys(view, keys());
    read_from(view, config);
  }
  // Reads the table's keys without rejecting others: for a table that owns part of a node
  // whose unknown-key check another table makes (with known(this->keys())).
  void read_from(const ConfigView& view, Config& config) const {
    for (const Entry& e : entries_) {
      if (!view.has(e.key)) {
        if (e.required) throw_missing_key(view, e.key);
        continue;
      }
      if (e.read) e.read(config, view, e.key);
    }
  }

 private:
  struct Entry {
    std::string key;
    Reader read;
    bool required;
  };
  std::vector<Entry> entries_;
};

}  // namespace vitrine::config
