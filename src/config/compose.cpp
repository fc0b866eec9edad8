#include "config/compose.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "config/path.h"
#include "config/yaml_io.h"
#include "core/error.h"
#include "core/text.h"

namespace vitrine::config {
namespace {

// Hydra's own settings, merged first so configs and overrides can change them.
const char* kHydraDefaults = R"(
hydra:
  run:
    dir: outputs/${now:%Y-%m-%d}/${now:%H-%M-%S}
  sweep:
    dir: multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}
    subdir: ${hydra.job.num}
  job:
    name: ???
    num: 0
    override_dirname: ''
  mode: RUN
  runtime:
    choices: {}
  overrides:
    task: []
)";

std::string parent_dir(const std::string& config_path) {
  size_t slash = config_path.rfind('/');
  return slash == std::string::npos ? "" : config_path.substr(0, slash);
}

std::string base_name(const std::string& config_path) {
  size_t slash = config_path.rfind('/');
  return slash == std::string::npos ? config_path : config_path.substr(slash + 1);
}

std::string dotted(std::string group) {
  std::replace(group.begin(), group.end(), '/', '.');
  return group;
}

std::string join_package(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "." + b;
}

// Resolves `path` against the directory of the including config; a leading '/' is absolute.
std::string resolve_relative(const std::string& dir, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path.substr(1);
  return dir.empty() ? path : dir + "/" + path;
}

// Substitutes `_group_` and `_name_` in a package spec.
std::string expand_package(std::string spec, const std::string& group, const std::string& name) {
  KeyPath parts = split_path(spec);
  for (auto& p : parts) {
    if (p == "_group_")
      p = dotted(group);
    else if (p == "_name_")
      p = name;
  }
  std::string out;
  for (const auto& p : parts) out = join_package(out, p);
  return out;
}

struct DefaultEntry {
  enum class Type { Self, Group, Config } type = Type::Self;
  std::string path;                    // Group: absolute group path; Config: absolute config path
  std::optional<std::string> option;   // Group: chosen option; nullopt = null
  std::optional<std::string> package;  // from `@pkg`, relative to the including config
  bool optional = false;
  bool is_override = false;
  bool from_command_line = false;
  std::string text;  // as written, for messages
};

struct MergeStep {
  Node content;
  std::string package;  // "" = root
  std::string origin;
};

class Composer {
 public:
  Composer(const ConfigRepository& repo, const std::vector<Override>& overrides) : repo_(repo) {
    for (const auto& o : overrides) {
      if (o.is_sweep())
        throw ConfigError("Ambiguous value for argument '" + o.text +
                          "': to use it as a list, write " + o.key +
                          "=[...]; to use it as a string, quote it; to sweep over it, add "
                          "--multirun");
      if (repo_.is_group(o.key))
        group_overrides_.push_back(o);
      else
        value_overrides_.push_back(o);
    }
    for (const auto& o : group_overrides_) {
      if (o.type != OverrideType::Delete && !o.value.is_null() && !o.value.is_string())
        throw ConfigError("Override '" + o.text + "': the option of group '" + o.key +
                          "' must be a config name");
      switch (o.type) {
        case OverrideType::Change:
        case OverrideType::ForceAdd: cli_choice_[o.key] = o; break;
        case OverrideType::Add: appended_.push_back(o); break;
        case OverrideType::Delete: deleted_[o.key] = o; break;
      }
    }
  }

  Composition run(const ComposeOptions& options) {
    std::vector<MergeStep> steps = expand_defaults(options.config_name);
    // `++group=option` overrides the option when the group is in the defaults list and
    // appends it otherwise; only the first expansion can tell which, so expand again.
    bool retry = false;
    for (auto it = cli_choice_.begin(); it != cli_choice_.end();) {
      if (it->second.type == OverrideType::ForceAdd && !cli_used_.count(it->first)) {
        appended_.push_back(it->second);
        it = cli_choice_.erase(it);
        retry = true;
      } else {
        ++it;
      }
    }
    if (retry) steps = expand_defaults(options.config_name);
    check_unused_group_overrides();

    Node root = Node::dict();
    for (const auto& step : steps) {
      if (step.package.empty()) {
        if (!step.content.is_null() && !step.content.is_dict())
          throw ConfigError(step.origin + ": a config placed at the root must be a dict, got a " +
                            kind_name(step.content.kind()));
        if (step.content.is_dict()) merge_into(root, step.content);
        continue;
      }
      KeyPath where = split_path(step.package);
      Node* target = find_path(root, where);
      if (!target) {
        set_path(root, where, Node::dict());
        target = find_path(root, where);
      }
      if (!step.content.is_null()) merge_into(*target, step.content);
    }

    // A saved run's packages, where the command line chose nothing else for them.
    auto selected = [&](const std::string& group) {
      if (cli_choice_.count(group)) return true;
      for (const auto& o : appended_)
        if (o.key == group) return true;
      return false;
    };
    for (const auto& [group, node] : options.saved_packages)
      if (!selected(group) && !selected("experiment")) root.set(group, node);

    // Record the run metadata before value overrides so `hydra.*` overrides win.
    Node choices = Node::dict();
    for (const auto& [group, option] : choices_) choices.set(group, Node(option));
    set_path(root, {"hydra", "runtime", "choices"}, choices);
    set_path(root, {"hydra", "job", "name"}, Node(options.job_name));
    set_path(root, {"hydra", "job", "num"}, Node(static_cast<int64_t>(options.job_num)));
    set_path(root, {"hydra", "mode"}, Node(options.multirun ? "MULTIRUN" : "RUN"));
    List task;
    std::vector<std::string> dirname_parts;
    for (const auto* list : {&group_overrides_, &value_overrides_})
      for (const auto& o : *list) task.push_back(Node(o.text));
    for (const auto& t : task) dirname_parts.push_back(t.as_string());
    std::sort(dirname_parts.begin(), dirname_parts.end());
    set_path(root, {"hydra", "overrides", "task"}, Node(task));
    set_path(root, {"hydra", "job", "override_dirname"}, Node(join(dirname_parts, ",")));

    for (const auto& o : value_overrides_) apply_value_override(root, o);
    return Composition{std::move(root), choices_};
  }

 private:
  std::vector<MergeStep> expand_defaults(const std::string& config_name) {
    cli_used_.clear();
    deleted_used_.clear();
    tree_override_.clear();
    choices_.clear();
    std::vector<MergeStep> steps;
    steps.push_back({load_yaml(kHydraDefaults, "<hydra defaults>"), "", "<hydra defaults>"});
    expand_config(config_name, "", std::nullopt, /*is_primary=*/true, {}, steps);
    return steps;
  }

  std::vector<DefaultEntry> parse_defaults(const Node& list, const std::string& dir,
                                           const std::string& origin) {
    std::vector<DefaultEntry> entries;
    if (!list.is_list())
      throw ConfigError(origin + ": 'defaults' must be a list, got a " + kind_name(list.kind()));
    for (const auto& item : list.as_list()) {
      DefaultEntry e;
      if (item.is_string()) {
        e.text = item.as_string();
        if (e.text == "_self_") {
          e.type = DefaultEntry::Type::Self;
        } else {
          std::string spec = e.text;
          size_t at = spec.find('@');
          if (at != std::string::npos) {
            e.package = spec.substr(at + 1);
            spec = spec.substr(0, at);
          }
          e.type = DefaultEntry::Type::Config;
          e.path = resolve_relative(dir, spec);
        }
      } else if (item.is_dict() && item.size() == 1) {
        const auto& [raw_key, value] = item.as_dict().front();
        e.text = raw_key + ": " + value.to_string();
        std::string key = raw_key;
        if (key.rfind("override ", 0) == 0) {
          e.is_override = true;
          key = key.substr(9);
        } else if (key.rfind("optional ", 0) == 0) {
          e.optional = true;
          key = key.substr(9);
        }
        size_t at = key.find('@');
        if (at != std::string::npos) {
          e.package = key.substr(at + 1);
          key = key.substr(0, at);
        }
        e.type = DefaultEntry::Type::Group;
        e.path = resolve_relative(dir, key);
        if (value.is_null())
          e.option = std::nullopt;
        else if (value.is_string())
          e.option = value.as_string();
        else
          throw ConfigError(origin + ": defaults entry '" + e.text +
                            "' must select one config by name (lists of options are not "
                            "supported)");
      } else {
        throw ConfigError(origin + ": malformed defaults entry '" + item.to_string() + "'");
      }
      entries.push_back(std::move(e));
    }
    return entries;
  }

  // Loads `name` and appends its merge steps (its defaults, then itself where `_self_` is).
  void expand_config(const std::string& name, const std::string& parent_package,
                     const std::optional<std::string>& explicit_package, bool is_primary,
                     const std::string& group_for_default_package, std::vector<MergeStep>& steps) {
    if (std::find(stack_.begin(), stack_.end(), name) != stack_.end())
      throw ConfigError("Defaults cycle: " + join(stack_, " -> ") + " -> " + name);
    auto file = repo_.load(name);
    if (!file) throw ConfigError("Cannot find primary config '" + name + "'");
    stack_.push_back(name);

    Node content = load_yaml(file->text, file->origin);
    std::vector<DefaultEntry> entries;
    if (content.is_dict()) {
      if (const Node* d = content.find("defaults")) {
        entries = parse_defaults(*d, parent_dir(name), file->origin);
        content.erase("defaults");
      }
    }

    // Where this config's own content goes: defaults-list package (relative to the
    // including config) > `@package` directive (absolute) > the group path.
    std::string package;
    const std::string group = group_for_default_package;
    if (explicit_package) {
      package = *explicit_package == "_global_"
                    ? ""
                    : join_package(parent_package,
                                   expand_package(*explicit_package, group, base_name(name)));
    } else if (auto directive = package_directive(file->text)) {
      package = *directive == "_global_" ? "" : expand_package(*directive, group, base_name(name));
    } else {
      package = dotted(group);
    }

    if (is_primary) {
      for (const auto& o : appended_) {
        DefaultEntry e;
        e.type = DefaultEntry::Type::Group;
        e.path = o.key;
        if (!o.package.empty()) e.package = o.package;
        if (!o.value.is_null()) e.option = o.value.as_string();
        e.from_command_line = true;
        e.text = o.text;
        entries.push_back(e);
      }
    }
    if (std::none_of(entries.begin(), entries.end(),
                     [](const DefaultEntry& e) { return e.type == DefaultEntry::Type::Self; })) {
      DefaultEntry self;
      self.type = DefaultEntry::Type::Self;
      entries.push_back(self);  // Hydra >= 1.1: the config's own values come last
    }

    // Register this list's `override` entries before expanding anything, and expand in
    // reverse (as Hydra does), so a later entry such as an experiment can override the
    // option of a group listed before it.
    for (const auto& e : entries) {
      if (!e.is_override) continue;
      if (!tree_override_.count(e.path)) tree_override_[e.path] = {e.option, e.text, false};
    }
    std::vector<std::vector<MergeStep>> per_entry(entries.size());
    for (size_t i = entries.size(); i-- > 0;) {
      const auto& e = entries[i];
      if (e.is_override) continue;
      if (e.type == DefaultEntry::Type::Self) {
        per_entry[i].push_back({content, package, file->origin});
      } else if (e.type == DefaultEntry::Type::Config) {
        if (!repo_.load(e.path))
          throw ConfigError(file->origin + ": could not find config '" + e.path +
                            "' listed in its defaults");
        expand_config(e.path, package, e.package, false, parent_dir(e.path), per_entry[i]);
      } else {
        expand_group(e, package, file->origin, per_entry[i]);
      }
    }
    for (auto& chunk : per_entry)
      for (auto& step : chunk) steps.push_back(std::move(step));
    stack_.pop_back();
  }

  void expand_group(const DefaultEntry& e, const std::string& package, const std::string& origin,
                    std::vector<MergeStep>& steps) {
    const std::string& group = e.path;
    std::optional<std::string> option = e.option;
    if (auto it = tree_override_.find(group); it != tree_override_.end()) {
      option = it->second.option;
      it->second.used = true;
    }
    if (auto it = cli_choice_.find(group); it != cli_choice_.end() && !e.from_command_line) {
      const Node& v = it->second.value;
      option = v.is_null() ? std::nullopt : std::optional<std::string>(v.as_string());
      cli_used_.insert(group);
    }
    if (auto it = deleted_.find(group); it != deleted_.end()) {
      const Override& del = it->second;
      if (del.has_value && (!option || Node(*option) != del.value))
        throw ConfigError("Could not delete '" + group + "=" + del.value.to_string() +
                          "'. The selected option is '" + option.value_or("null") + "'");
      deleted_used_.insert(group);
      return;
    }
    const std::string choice_key = group + (e.package ? "@" + *e.package : "");
    if (std::any_of(choices_.begin(), choices_.end(),
                    [&](const auto& c) { return c.first == choice_key; }))
      throw ConfigError(
          "Multiple values for '" + choice_key + "' in the defaults list" +
          (e.from_command_line
               ? " (from '" + e.text + "'). To change the selected option use " + e.text.substr(1)
               : std::string(" (from '") + origin + "')"));
    if (!option) {
      choices_.emplace_back(choice_key, "null");
      return;
    }
    if (*option == "???") {
      throw ConfigError("You must specify '" + group + "', e.g, " + group +
                        "=<OPTION>. Available options: " + join(repo_.options(group), ", "));
    }
    const std::string config_path = group + "/" + *option;
    if (!repo_.load(config_path)) {
      if (e.optional) return;
      const auto available = repo_.options(group);
      throw ConfigError("Could not find '" + config_path + "'. Available options in '" + group +
                        "': " + join(available, ", ") + did_you_mean(*option, available));
    }
    choices_.emplace_back(choice_key, *option);
    expand_config(config_path, package, e.package, false, group, steps);
  }

  void check_unused_group_overrides() {
    for (const auto& [group, o] : cli_choice_) {
      if (cli_used_.count(group)) continue;
      throw ConfigError("Could not override '" + group +
                        "'. No match in the defaults list. To append to your default list use +" +
                        o.text);
    }
    for (const auto& [group, o] : deleted_)
      if (!deleted_used_.count(group))
        throw ConfigError("Could not delete '" + group + "'. No match in the defaults list");
    for (const auto& [group, ov] : tree_override_)
      if (!ov.used)
        throw ConfigError("Could not override '" + group + "' (from '" + ov.text +
                          "'). No match in the defaults list");
  }

  static std::string value_text(const Override& o) {
    size_t eq = o.text.find('=');
    return eq == std::string::npos ? "" : o.text.substr(eq + 1);
  }

  void apply_value_override(Node& root, Override o) {
    // `run.dir=...` is shorthand for Hydra's `hydra.run.dir=...`.
    if (o.key.rfind("run.", 0) == 0 && !root.find("run")) o.key = "hydra." + o.key;
    const KeyPath path = split_path(o.key);
    const Node* existing = find_path(root, path);
    switch (o.type) {
      case OverrideType::Change:
        if (!existing) throw ConfigError(not_in_struct(root, path, o));
        set_path(root, path, o.value);
        break;
      case OverrideType::Add:
        if (existing)
          throw ConfigError("Could not append to config. An item is already at '" + o.key +
                            "'. To change it use " + o.key + "=" + value_text(o));
        set_path(root, path, o.value);
        break;
      case OverrideType::ForceAdd: set_path(root, path, o.value); break;
      case OverrideType::Delete:
        if (!existing)
          throw ConfigError("Could not delete from config. '" + o.key + "' does not exist");
        if (o.has_value && *existing != o.value)
          throw ConfigError("Could not delete from config. The value of '" + o.key + "' is " +
                            existing->to_string() + " and not " + o.value.to_string());
        erase_path(root, path);
        break;
    }
  }

  static std::string not_in_struct(const Node& root, const KeyPath& path, const Override& o) {
    // Find the deepest existing ancestor to suggest a sibling key.
    KeyPath prefix;
    const Node* node = &root;
    size_t depth = 0;
    for (; depth < path.size(); ++depth) {
      const Node* child = find_path(*node, {path[depth]});
      if (!child) break;
      node = child;
      prefix.push_back(path[depth]);
    }
    std::string hint;
    if (node->is_dict()) {
      std::string match = closest_match(path[depth], node->keys());
      if (!match.empty()) {
        KeyPath suggestion = prefix;
        suggestion.push_back(match);
        hint = " Did you mean '" + join_path(suggestion) + "'?";
      }
    }
    return "Could not override '" + o.key + "'. To append to your config use +" + o.key + "=" +
           value_text(o) + " (key '" + path[depth] + "' is not in " +
           (prefix.empty() ? std::string("the config") : "'" + join_path(prefix) + "'") + ")." +
           hint;
  }

  struct TreeOverride {
    std::optional<std::string> option;
    std::string text;
    bool used;
  };

  const ConfigRepository& repo_;
  std::vector<Override> group_overrides_, value_overrides_, appended_;
  std::map<std::string, Override> cli_choice_, deleted_;
  std::set<std::string> cli_used_, deleted_used_;
  std::map<std::string, TreeOverride> tree_override_;
  std::vector<std::pair<std::string, std::string>> choices_;
  std::vector<std::string> stack_;
};

}  // namespace

Composition compose(const ConfigRepository& repo, const std::vector<Override>& overrides,
                    const ComposeOptions& options) {
  Composer composer(repo, overrides);
  return composer.run(options);
}

Node job_config(const Node& composed) {
  Node out = composed;
  out.erase("hydra");
  return out;
}

}  // namespace vitrine::config
