// An environment variable set for one scope and restored after it (to its old value, or unset),
// for switches read on every call, such as the CUDA op layer's VITRINE_NA_CUDA_FORWARD: the
// benchmark compares kernels in one process with it, and tests leave no setting behind even
// when an assertion returns early.
#pragma once

#include <cstdlib>
#include <string>

namespace vitrine {

class ScopedEnv {
 public:
  // An empty `value` leaves the variable as it is for the scope.
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
      had_ = true;
    }
    if (!value.empty()) set_ = setenv(name, value.c_str(), 1) == 0;
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

  // Whether setenv took the value (false also for an empty value).
  bool set() const { return set_; }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
  bool set_ = false;
};

}  // namespace vitrine
