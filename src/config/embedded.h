// The config tree compiled into the binary (generated from configs/ at build time).
#pragma once

#include <map>
#include <string>

namespace vitrine::config {

// Relative path ("model/dinat_nano.yaml") -> file text.
const std::map<std::string, std::string>& embedded_config_files();

}  // namespace vitrine::config
