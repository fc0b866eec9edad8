// Mixup/CutMix settings (data.augment's mixup keys), torch-free so the sample pipeline, which
// reads the rest of data.augment, can accept these keys without declaring them again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/view.h"

namespace vitrine::data {

struct MixupOptions {
  double mixup_alpha = 0.8;
  double cutmix_alpha = 1.0;
  double prob = 1.0;         // probability of mixing a batch at all
  double switch_prob = 0.5;  // probability of CutMix when both are on
  double label_smoothing = 0.1;
  bool correct_lam = true;  // lambda from the clipped box area
  int64_t num_classes = 0;
};

// mixup, cutmix, mixup_prob, mixup_switch_prob, mixup_mode (only "batch") of data.augment;
// label_smoothing and num_classes come from the task and are left at their defaults here.
MixupOptions read_mixup_options(const config::ConfigView& augment);
// The keys read_mixup_options reads.
std::vector<std::string> mixup_option_keys();

}  // namespace vitrine::data
