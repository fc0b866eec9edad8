// `vitrine launch`: torchrun for vitrine — starts the local ranks of a distributed run as
// copies of this binary with the rendezvous environment, forwards SIGINT/SIGTERM to them, and
// when one rank fails stops the others and exits with its code (no rank left hanging).
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

namespace vitrine::cli {
namespace {

std::vector<pid_t> children;

void forward_signal(int signal) {
  for (pid_t pid : children)
    if (pid > 0) kill(pid, signal);
}

// A TCP port nobody listens on right now (bound then released: the store binds it next).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("launch: cannot open a socket to find a free port");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    throw std::runtime_error("launch: cannot find a free port");
  }
  close(fd);
  return ntohs(address.sin_port);
}

std::string self_path() {
  char buffer[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) throw std::runtime_error("launch: cannot find this program's path");
  return std::string(buffer, static_cast<size_t>(n));
}

}  // namespace

int run_launch(const LaunchOptions& o, const std::vector<std::string>& command) {
  if (command.empty())
    throw UsageError(
        "vitrine launch needs a command after --, e.g. vitrine launch --nproc 2 -- "
        "train trainer.epochs=1");
  if (o.nproc < 1 || o.nnodes < 1 || o.node_rank < 0 || o.node_rank >= o.nnodes)
    throw UsageError("launch: --nproc and --nnodes must be >= 1 and --node-rank in 0..nnodes-1");
  const int port = o.master_port > 0 ? o.master_port : (o.nnodes == 1 ? free_port() : 29500);
  const int world = o.nproc * o.nnodes;
  const std::string exe = self_path();
  std::cerr << "launch: " << o.nproc << " local ranks of " << world << ", master " << o.master_addr
            << ":" << port << std::endl;

  struct sigaction action {};
  action.sa_handler = forward_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  const pid_t launcher = getpid();
  for (int local = 0; local < o.nproc; ++local) {
    const int rank = o.node_rank * o.nproc + local;
    const pid_t pid = fork();
    if (pid < 0) {
      forward_signal(SIGTERM);
      throw std::runtime_error(std::string("launch: fork failed: ") + std::strerror(errno));
    }
    if (pid == 0) {
      // A rank dies with its launcher, even one killed with SIGKILL (which forwards nothing);
      // if the launcher is already gone, the rank does not start.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != launcher) _exit(1);
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(local).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      setenv("VITRINE_LAUNCH", "1", 1);  // errors then name launch's flags
      std::vector<char*> argv{const_cast<char*>(exe.c_str())};
      for (const std::string& a : command) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(exe.c_str(), argv.data());
      std::perror("launch: exec");
      _exit(127);
    }
    children.push_back(pid);
  }

  int result = 0;
  size_t running = children.size();
  while (running > 0) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    --running;
    int code = 0;
    if (WIFEXITED(status))
      code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      code = 128 + WTERMSIG(status);
    for (pid_t& c : children)
      if (c == pid) c = -1;
    if (code != 0 && result == 0) {
      result = code;
      std::cerr << "launch: a rank exited with code " << code << "; stopping the others"
                << std::endl;
      forward_signal(SIGTERM);
      // Whoever ignores SIGTERM is killed after a grace period.
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::seconds(10));
        forward_signal(SIGKILL);
      }).detach();
    }
  }
  return result;
}

}  // namespace vitrine::cli
