#include "core/stop_request.h"

#include <signal.h>

#include <atomic>

namespace vitrine {
namespace {

std::atomic<int> requested{0};

void on_signal(int signal) {
  requested.store(signal);
  // The next one is not polite: back to the default action (async-signal-safe).
  ::signal(signal, SIG_DFL);
}

}  // namespace

void install_stop_handlers() {
  requested.store(0);
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

int stop_signal() {
  return requested.load();
}

std::string signal_name(int signal) {
  if (signal == SIGINT) return "SIGINT";
  if (signal == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(signal);
}

}  // namespace vitrine
