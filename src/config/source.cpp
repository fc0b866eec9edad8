#include "config/source.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"

namespace fs = std::filesystem;

namespace vitrine::config {

DirectorySource::DirectorySource(std::string root) : root_(std::move(root)) {
  std::error_code ec;
  if (!fs::is_directory(root_, ec))
    throw ConfigError("Config directory '" + root_ + "' does not exist or is not a directory");
}

std::optional<std::string> DirectorySource::read(const std::string& relative) const {
  fs::path path = fs::path(root_) / relative;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path);
  if (!in) throw ConfigError("Cannot read config file '" + path.string() + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> DirectorySource::options(const std::string& group) const {
  std::vector<std::string> out;
  std::error_code ec;
  fs::path dir = fs::path(root_) / group;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml")
      out.push_back(entry.path().stem().string());
  }
  return out;
}

bool DirectorySource::is_group(const std::string& group) const {
  std::error_code ec;
  return !group.empty() && fs::is_directory(fs::path(root_) / group, ec);
}

MemorySource::MemorySource(std::map<std::string, std::string> files, std::string name)
    : files_(std::move(files)), name_(std::move(name)) {}

std::optional<std::string> MemorySource::read(const std::string& relative) const {
  auto it = files_.find(relative);
  if (it == files_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> MemorySource::options(const std::string& group) const {
  std::vector<std::string> out;
  const std::string prefix = group + "/";
  for (const auto& [path, text] : files_) {
    if (path.rfind(prefix, 0) != 0) continue;
    std::string rest = path.substr(prefix.size());
    if (rest.find('/') != std::string::npos) continue;
    if (rest.size() > 5 && rest.compare(rest.size() - 5, 5, ".yaml") == 0)
      out.push_back(rest.substr(0, rest.size() - 5));
  }
  return out;
}

bool MemorySource::is_group(const std::string& group) const {
  if (group.empty()) return false;
  const std::string prefix = group + "/";
  return std::any_of(files_.begin(), files_.end(),
                     [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
}

std::optional<ConfigFile> ConfigRepository::load(const std::string& name) const {
  const std::string relative = name + ".yaml";
  for (const auto& source : sources_) {
    if (auto text = source->read(relative))
      return ConfigFile{*text, source->describe() + "/" + relative};
  }
  return std::nullopt;
}

std::vector<std::string> ConfigRepository::options(const std::string& group) const {
  std::set<std::string> all;
  for (const auto& source : sources_)
    for (auto& o : source->options(group)) all.insert(o);
  return {all.begin(), all.end()};
}

bool ConfigRepository::is_group(const std::string& group) const {
  return std::any_of(sources_.begin(), sources_.end(),
                     [&](const auto& s) { return s->is_group(group); });
}

}  // namespace vitrine::config
