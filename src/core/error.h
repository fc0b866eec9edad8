// Error types shared by every layer. The CLI maps them to exit codes:
// UsageError / ConfigError -> 2 (the user asked for something malformed),
// anything else -> 1 (a runtime failure).
#pragma once

#include <stdexcept>
#include <string>

namespace vitrine {

// A malformed command line: unknown flag, missing argument, bad subcommand.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration problem: unknown key, bad value, missing file, interpolation cycle.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Exit codes shared by every subcommand.
enum ExitCode : int { kExitOk = 0, kExitRuntimeFailure = 1, kExitUsage = 2 };

}  // namespace vitrine
