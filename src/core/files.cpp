#include "core/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace vitrine {
namespace {

void write_raw(const std::string& path, const char* data, size_t size) {
  const std::string temporary = path + ".tmp" + std::to_string(::getpid());
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

}  // namespace vitrine
