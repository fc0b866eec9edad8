#include "train/task_factory.h"

#include <string>

#include "core/error.h"
#include "train/classification_task.h"
#include "train/detection_task.h"
#include "train/segmentation_task.h"
#include "train/sr_task.h"

namespace vitrine::train {
namespace {

// The data format a task reads, or ConfigError naming both.
void require_format(const config::ConfigView& data, const std::string& task, const char* format,
                    const char* what) {
  const std::string got = data.get_string("format");
  if (got != format)
    throw ConfigError("task " + task + " needs " + what + " (data.format: " + format +
                      "), got data.format '" + got + "'");
}

}  // namespace

std::unique_ptr<Task> make_task(const config::ConfigView& root) {
  const config::ConfigView task = root.child("task");
  const config::ConfigView data = root.child("data");
  const std::string name = task.get_string("name");
  if (name == "classification")
    return std::make_unique<ClassificationTask>(task, data, data.get_int("num_classes"));
  if (name == "super_resolution") {
    require_format(data, name, "sr_pairs", "paired SR data");
    return std::make_unique<SrTask>(task, data.get_int("scale"));
  }
  if (name == "detection") {
    require_format(data, name, "coco", "COCO-format data");
    return std::make_unique<DetectionTask>(task, data.get_int("num_classes"));
  }
  if (name == "segmentation") {
    require_format(data, name, "ade20k", "label maps");
    return std::make_unique<SegmentationTask>(task, data.get_int("num_classes"));
  }
  throw ConfigError("task.name '" + name +
                    "' is not available yet (this build trains: classification, "
                    "super_resolution, detection, segmentation)");
}

}  // namespace vitrine::train
