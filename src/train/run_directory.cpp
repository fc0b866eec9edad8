#include "train/run_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "config/view.h"
#include "core/error.h"
#include "core/files.h"
#include "core/runtime.h"
#include "train/distributed.h"
#include "train/trainer_settings.h"

namespace vitrine::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kLockName = ".run.lock";

bool is_run_file(const std::string& name) {
  if (name == "last.pt" || name == "best.pt" || name == "metrics.jsonl" || name == "summary.csv")
    return true;
  return name.rfind("checkpoint-", 0) == 0 && name.size() > 14 &&
         name.compare(name.size() - 3, 3, ".pt") == 0;
}

std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%d-%H%M%S", &local);
  return text;
}

// What the lock file says about its holder ("pid 1234 on host since ..."), for the message.
std::string holder_of(const fs::path& lock) {
  std::ifstream in(lock);
  std::string line;
  std::getline(in, line);
  return line.empty() ? "another process" : line;
}

}  // namespace

std::shared_ptr<RunDirectoryClaim> claim_run_directory(const config::Node& run_config,
                                                       const std::string& dir) {
  const config::ConfigView root(run_config, "");
  const DistributedOptions dist = distributed_options(
      root.has("dist") ? root.child("dist") : config::ConfigView(config::Node::dict(), "dist"));
  if (dist.rank > 0) return nullptr;
  const TrainerSettings settings =
      read_trainer_settings(root.child("trainer"), parse_device(root.get_string("device")));
  RunDirectoryPolicy policy;
  policy.resume = settings.resume.value_or("") == "auto";
  policy.replace_run = settings.replace_run;
  return std::make_shared<RunDirectoryClaim>(dir, policy);
}

bool holds_run(const std::string& dir) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error))
    if (is_run_file(entry.path().filename().string())) return true;
  return false;
}

RunDirectoryClaim::RunDirectoryClaim(const std::string& dir, const RunDirectoryPolicy& policy) {
  fs::create_directories(dir);
  const fs::path lock_path = fs::path(dir) / kLockName;
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0)
    throw std::runtime_error("cannot open '" + lock_path.string() + "': " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::string holder = holder_of(lock_path);
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw ConfigError("run directory " + dir + " is in use by " + holder +
                      ": wait for it, or choose another run.dir");
  }
  if (holds_run(dir) && !policy.resume) {
    if (!policy.replace_run) {
      ::close(lock_fd_);
      lock_fd_ = -1;
      throw ConfigError("run directory " + dir +
                        " already holds a run: continue it with trainer.resume=auto, or start "
                        "over with trainer.replace_run=true (the earlier run moves aside)");
    }
    // Move the earlier run's files (not the lock we hold) into a sibling directory.
    moved_to_ = (fs::path(dir).lexically_normal().string() + ".replaced-" + timestamp());
    fs::create_directories(moved_to_);
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().filename() == kLockName) continue;
      fs::rename(entry.path(), fs::path(moved_to_) / entry.path().filename());
    }
    std::cout << "trainer.replace_run: the earlier run in " << dir << " moved to " << moved_to_
              << std::endl;
  }
  for (const std::string& name : remove_stale_temporaries(dir))
    std::cout << "removed " << name << ", left in " << dir << " by a writer that died" << std::endl;
  // Say who holds it, for the message a second process prints.
  char host[256] = "?";
  ::gethostname(host, sizeof(host) - 1);
  const std::string holder = "vitrine pid " + std::to_string(::getpid()) + " on " + host +
                             " (started " + timestamp() + ")\n";
  if (::ftruncate(lock_fd_, 0) == 0) {
    const ssize_t written = ::write(lock_fd_, holder.data(), holder.size());
    (void)written;  // the note only informs; the flock is what excludes
  }
}

RunDirectoryClaim::~RunDirectoryClaim() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

}  // namespace vitrine::train
