#include "config/job.h"

#include <filesystem>
#include <fstream>
#include <iostream>

#include "config/embedded.h"
#include "config/path.h"
#include "config/resolve.h"
#include "config/yaml_io.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace vitrine::config {
namespace {

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("Cannot write '" + path.string() + "'");
}

List override_texts(const std::vector<Override>& overrides) {
  List out;
  for (const auto& o : overrides) out.push_back(Node(o.text));
  return out;
}

// Composes one job, fixes its output directory and resolves everything.
JobContext prepare(const ConfigRepository& repo, const std::vector<Override>& overrides,
                   const JobRequest& request, int job_num, std::time_t now, Node* hydra_out) {
  ComposeOptions options;
  options.config_name = request.config_name;
  options.job_name = request.job_name;
  options.job_num = job_num;
  options.multirun = request.multirun;
  Composition composed = compose(repo, overrides, options);

  Node& root = composed.config;
  Resolver resolver(root, now);
  std::string dir;
  if (request.multirun) {
    Node sweep_dir = resolver.resolve({"hydra", "sweep", "dir"});
    Node subdir = resolver.resolve({"hydra", "sweep", "subdir"});
    dir = (fs::path(sweep_dir.to_string()) / subdir.to_string()).string();
  } else {
    dir = resolver.resolve({"hydra", "run", "dir"}).to_string();
  }
  if (dir.empty()) throw ConfigError("hydra.run.dir resolves to an empty path");
  fs::path output = fs::absolute(dir);
  set_path(root, {"hydra", "runtime", "output_dir"}, Node(output.string()));
  set_path(root, {"hydra", "runtime", "cwd"}, Node(fs::current_path().string()));

  Node resolved = Resolver(root, now).resolve_all();
  require_complete(resolved);
  JobContext job;
  job.output_dir = output.string();
  job.job_num = job_num;
  job.config = job_config(resolved);
  if (hydra_out) *hydra_out = *resolved.find("hydra");
  return job;
}

}  // namespace

ConfigRepository make_repository(const std::vector<std::string>& config_dirs) {
  ConfigRepository repo;
  for (const auto& dir : config_dirs) repo.add(std::make_unique<DirectorySource>(dir));
  repo.add(std::make_unique<MemorySource>(embedded_config_files(), "<built-in configs>"));
  return repo;
}

std::vector<Override> parse_overrides(const std::vector<std::string>& texts) {
  std::vector<Override> out;
  for (const auto& t : texts) out.push_back(parse_override(t));
  return out;
}

std::vector<std::vector<Override>> expand_sweep(const std::vector<Override>& overrides) {
  std::vector<std::vector<Override>> jobs{{}};
  for (const auto& o : overrides) {
    std::vector<std::vector<Override>> next;
    for (const auto& prefix : jobs) {
      if (!o.is_sweep()) {
        next.push_back(prefix);
        next.back().push_back(o);
        continue;
      }
      for (const auto& value : o.sweep) {
        Override point = o;
        point.sweep.clear();
        point.value = value;
        point.text = o.with_value_text(value);
        next.push_back(prefix);
        next.back().push_back(point);
      }
    }
    jobs = std::move(next);
  }
  return jobs;
}

std::vector<std::string> run_jobs(const JobRequest& request, const JobFunction& job,
                                  const ClaimFunction& claim) {
  ConfigRepository repo = make_repository(request.config_dirs);
  std::vector<Override> overrides = parse_overrides(request.overrides);
  const std::time_t now = std::time(nullptr);

  std::vector<std::vector<Override>> points =
      request.multirun ? expand_sweep(overrides) : std::vector<std::vector<Override>>{overrides};

  // Compose every point first: a typo in the last sweep value fails before any job runs.
  std::vector<JobContext> contexts;
  std::vector<Node> hydra_nodes;
  for (size_t i = 0; i < points.size(); ++i) {
    Node hydra;
    contexts.push_back(prepare(repo, points[i], request, static_cast<int>(i), now, &hydra));
    hydra_nodes.push_back(hydra);
  }

  if (request.multirun) {
    fs::path sweep_dir = fs::path(contexts.front().output_dir).parent_path();
    fs::create_directories(sweep_dir);
    Node record = Node::dict();
    record.set("hydra", hydra_nodes.front());
    for (const auto& [k, v] : contexts.front().config.as_dict()) record.set(k, v);
    write_text(sweep_dir / "multirun.yaml", dump_yaml(record));
    std::cout << "[vitrine] Launching " << points.size() << " jobs locally" << std::endl;
  }

  std::vector<std::string> dirs;
  for (size_t i = 0; i < contexts.size(); ++i) {
    const JobContext& ctx = contexts[i];
    const std::shared_ptr<void> held = claim ? claim(ctx) : nullptr;
    fs::path hydra_dir = fs::path(ctx.output_dir) / ".hydra";
    fs::create_directories(hydra_dir);
    write_text(hydra_dir / "config.yaml", dump_yaml(ctx.config));
    write_text(hydra_dir / "hydra.yaml", dump_yaml(hydra_nodes[i]));
    write_text(hydra_dir / "overrides.yaml", dump_yaml(Node(override_texts(points[i]))));
    if (request.multirun) {
      std::string line;
      for (const auto& o : points[i]) line += (line.empty() ? "" : " ") + o.text;
      std::cout << "[vitrine] \t#" << i << " : " << line << std::endl;
    }
    job(ctx);
    dirs.push_back(ctx.output_dir);
  }
  return dirs;
}

}  // namespace vitrine::config
