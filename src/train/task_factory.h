// The task a run config asks for (task.name), checked against the data it will read: the one
// place `vitrine train` and `vitrine eval` turn a config into a Task.
#pragma once

#include <memory>

#include "config/view.h"
#include "train/task.h"

namespace vitrine::train {

// `root` is the whole resolved run config (task.*, data.*). Throws ConfigError for an unknown
// task name or a data format the task cannot read.
std::unique_ptr<Task> make_task(const config::ConfigView& root);

}  // namespace vitrine::train
