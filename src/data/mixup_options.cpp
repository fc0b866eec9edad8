#include "data/mixup_options.h"

#include "config/option_table.h"
#include "core/error.h"

namespace vitrine::data {
namespace {

const config::OptionTable<MixupOptions>& table() {
  using O = MixupOptions;
  static const auto t =
      config::OptionTable<O>()
          .field("mixup", &O::mixup_alpha)
          .required()
          .field("cutmix", &O::cutmix_alpha)
          .required()
          .field("mixup_prob", &O::prob)
          .required()
          .field("mixup_switch_prob", &O::switch_prob)
          .required()
          .custom("mixup_mode",
                  [](O&, const config::ConfigView& v, const std::string& key) {
                    const std::string mode = v.get_string(key);
                    if (mode != "batch")
                      throw ConfigError(v.path() + ".mixup_mode: only 'batch' is supported, got '" +
                                        mode + "'");
                  })
          .required();
  return t;
}

}  // namespace

MixupOptions read_mixup_options(const config::ConfigView& augment) {
  // The sample pipeline's table owns data.augment's unknown-key check (it knows these keys).
  MixupOptions o;
  table().read_from(augment, o);
  return o;
}

std::vector<std::string> mixup_option_keys() {
  return table().keys();
}

}  // namespace vitrine::data
