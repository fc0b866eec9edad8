// Typed, read-only access to one resolved config node. Errors name the full key path
// ("trainer.epochs must be an int, got string 'ten'"), so each component can take just
// its own node and still report problems in the user's terms.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "config/node.h"

namespace vitrine::config {

class ConfigView {
 public:
  ConfigView(Node resolved, std::string path);

  const std::string& path() const { return path_; }
  const Node& node() const { return node_; }
  bool has(const std::string& key) const;

  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_float(const std::string& key) const;  // ints are accepted
  double get_float(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  // A null value reads as nullopt; an absent key is an error.
  std::optional<std::string> get_optional_string(const std::string& key) const;
  std::vector<int64_t> get_int_list(const std::string& key) const;
  std::vector<double> get_float_list(const std::string& key) const;

  ConfigView child(const std::string& key) const;

  // Rejects keys outside `allowed`: the "unknown keys are errors" rule for a component.
  void expect_keys(std::initializer_list<const char*> allowed) const;

 private:
  const Node& require(const std::string& key) const;
  std::string full(const std::string& key) const;
  [[noreturn]] void wrong_type(const std::string& key, const char* wanted, const Node& got) const;

  Node node_;
  std::string path_;
};

}  // namespace vitrine::config
