#include "core/files.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace vitrine {
namespace {

constexpr const char* kTemporaryMark = ".tmp";  // <name>.tmp<pid>

void write_raw(const std::string& path, const char* data, size_t size) {
  const std::string temporary = path + kTemporaryMark + std::to_string(::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot create '" + temporary + "': " + std::strerror(errno));
  size_t written = 0;
  while (written < size) {
    const ssize_t n = ::write(fd, data + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd);
      std::remove(temporary.c_str());
      throw std::runtime_error("cannot write '" + temporary + "': " + reason);
    }
    written += static_cast<size_t>(n);
  }
  // Data on disk before the rename makes it visible: otherwise a power loss could leave an
  // empty file under the final name.
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    throw std::runtime_error("cannot flush '" + temporary + "': " + reason);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    throw std::runtime_error("cannot move '" + temporary + "' to '" + path + "': " + reason);
  }
}

}  // namespace

void write_file_atomically(const std::string& path, const std::vector<char>& bytes) {
  write_raw(path, bytes.data(), bytes.size());
}

void write_file_atomically(const std::string& path, const std::string& text) {
  write_raw(path, text.data(), text.size());
}

std::vector<std::string> remove_stale_temporaries(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    const size_t mark = name.rfind(kTemporaryMark);
    if (mark == std::string::npos || mark == 0) continue;
    const std::string digits = name.substr(mark + std::strlen(kTemporaryMark));
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(digits.c_str(), nullptr, 10);
    // A live writer (kill succeeds, or we may not signal it) keeps its file.
    if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)) continue;
    if (std::filesystem::remove(entry.path(), error)) removed.push_back(name);
  }
  return removed;
}

}  // namespace vitrine
