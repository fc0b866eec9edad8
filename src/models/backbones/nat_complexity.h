// Parameter and FLOP counts of a NAT-family backbone, computed from its config alone, so
// `vitrine models` can list the zoo without building (and randomly initialising) hundreds of
// millions of parameters. Tests hold the parameter count to the built modules' count.
#pragma once

#include <cstdint>

#include "models/backbones/nat_config.h"

namespace vitrine::models {

int64_t nat_parameter_count(const NATConfig& config);

// FLOPs for one img_size x img_size image as the papers count them (fvcore, with NATTEN's
// handles for NA): one multiply-add = one FLOP for convolutions and linears; LayerNorm 5 per
// element; q·k (+ one per bias add) and a·v per head, on the padded size when a level is
// smaller than kernel * dilation (the module pads before qkv and crops before proj);
// activations, residual adds, layer scale and pooling are free.
double nat_flops(const NATConfig& config, int64_t img_size);

}  // namespace vitrine::models
