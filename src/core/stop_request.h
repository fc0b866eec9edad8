// A polite stop for long runs: after install_stop_handlers(), the first SIGINT or SIGTERM only
// records itself, and the loop that polls stop_signal() ends at its next safe point (a training
// run between batches, its last checkpoint intact); a second signal ends the process at once.
#pragma once

#include <stdexcept>
#include <string>

namespace vitrine {

void install_stop_handlers();
// 0, or the signal (SIGINT, SIGTERM) that asked to stop.
int stop_signal();
// "SIGINT" / "SIGTERM".
std::string signal_name(int signal);

// Thrown by a loop that stopped on request; the CLI prints its message (where the run stopped
// and how to go on) and exits with 128 + the signal, as a shell reports a signalled process.
class StopRequested : public std::runtime_error {
 public:
  StopRequested(int signal, const std::string& message)
      : std::runtime_error(message), signal_(signal) {}
  int exit_code() const { return 128 + signal_; }

 private:
  int signal_;
};

}  // namespace vitrine
