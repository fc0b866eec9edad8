// Precompiled once for every torch-using target (see CMakeLists.txt): the narrow torch
// headers our code includes, plus the standard library pieces everyone uses.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>
