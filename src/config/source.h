// Where config files come from: a search path of sources, first match wins, as Hydra's
// config search path. The built-in tree is embedded in the binary so `vitrine` works from
// any directory; `--config-dir DIR` puts a user's tree in front of it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vitrine::config {

class ConfigSource {
 public:
  virtual ~ConfigSource() = default;
  // Text of `relative` (e.g. "model/dinat_nano.yaml"), or nullopt when absent.
  virtual std::optional<std::string> read(const std::string& relative) const = 0;
  // Option names (file stems) directly inside `group` (e.g. "model").
  virtual std::vector<std::string> options(const std::string& group) const = 0;
  virtual bool is_group(const std::string& group) const = 0;
  virtual std::string describe() const = 0;
};

class DirectorySource : public ConfigSource {
 public:
  explicit DirectorySource(std::string root);
  std::optional<std::string> read(const std::string& relative) const override;
  std::vector<std::string> options(const std::string& group) const override;
  bool is_group(const std::string& group) const override;
  std::string describe() const override { return root_; }

 private:
  std::string root_;
};

// Files held in memory, keyed by relative path: the embedded tree, and test fixtures.
class MemorySource : public ConfigSource {
 public:
  MemorySource(std::map<std::string, std::string> files, std::string name);
  std::optional<std::string> read(const std::string& relative) const override;
  std::vector<std::string> options(const std::string& group) const override;
  bool is_group(const std::string& group) const override;
  std::string describe() const override { return name_; }

 private:
  std::map<std::string, std::string> files_;
  std::string name_;
};

struct ConfigFile {
  std::string text;
  std::string origin;  // "<source>/<relative>", for messages
};

class ConfigRepository {
 public:
  void add(std::unique_ptr<ConfigSource> source) { sources_.push_back(std::move(source)); }
  // `name` without extension, e.g. "model/dinat_nano".
  std::optional<ConfigFile> load(const std::string& name) const;
  std::vector<std::string> options(const std::string& group) const;  // sorted, unique
  bool is_group(const std::string& group) const;

 private:
  std::vector<std::unique_ptr<ConfigSource>> sources_;
};

}  // namespace vitrine::config
