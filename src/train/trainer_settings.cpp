#include "train/trainer_settings.h"

#include <limits>

#include "config/node.h"
#include "config/option_table.h"
#include "core/error.h"

namespace vitrine::train {

namespace {
// trainer.batch_split: auto (a value no one can write in the config)
constexpr int64_t kAutoSplit = std::numeric_limits<int64_t>::min();
}  // namespace

TrainerSettings read_trainer_settings(const config::ConfigView& trainer,
                                      const c10::Device& device) {
  using S = TrainerSettings;
  static const auto ema_table = config::OptionTable<EmaSettings>()
                                    .field("enabled", &EmaSettings::enabled)
                                    .required()
                                    .field("decay", &EmaSettings::decay)
                                    .field("warmup", &EmaSettings::warmup);
  static const auto table =
      config::OptionTable<S>()
          .field("epochs", &S::epochs)
          .required()
          .field("log_every", &S::log_every)
          .required()
          .field("eval_every", &S::eval_every)
          .required()
          .field("accum_steps", &S::accum_steps)
          .required()
          .field("keep_top_k", &S::keep_top_k)
          .required()
          .field("limit_train_batches", &S::limit_train_batches)
          .field("clip_grad", &S::clip_grad)
          .field("clip_mode", &S::clip_mode)
          .custom("amp",
                  [](S& s, const config::ConfigView& v, const std::string& key) {
                    std::optional<std::string> amp;
                    config::read_value(v, key, amp);
                    s.amp = amp.value_or("");
                  })
          .required()
          .field("resume", &S::resume)
          .required()
          .field("tensorboard", &S::tensorboard)
          .custom("batch_split",
                  [](S& s, const config::ConfigView& v, const std::string& key) {
                    const config::Node* node = v.node().find(key);
                    if (node != nullptr && node->is_string()) {
                      if (node->as_string() != "auto")
                        throw ConfigError(
                            "trainer.batch_split must be auto or a number of slices, got '" +
                            node->as_string() + "'");
                      s.batch_split = kAutoSplit;  // resolved below, by device
                    } else {
                      config::read_value(v, key, s.batch_split);
                    }
                  })
          .field("replace_run", &S::replace_run)
          .field("channels_last", &S::channels_last)
          .field("cudnn_benchmark", &S::cudnn_benchmark)
          .custom("ema",
                  [](S& s, const config::ConfigView& v, const std::string& key) {
                    s.ema = ema_table.apply(v.child(key), s.ema);
                  })
          .required();
  S s = table.apply(trainer, S());

  if (s.epochs < 1 || s.log_every < 1 || s.eval_every < 1 || s.accum_steps < 1 || s.keep_top_k < 0)
    throw ConfigError(
        "trainer.epochs, log_every, eval_every and accum_steps must be >= 1 and "
        "keep_top_k >= 0");
  if (s.clip_grad && !(*s.clip_grad > 0))
    throw ConfigError("trainer.clip_grad must be positive (or null)");
  if (s.clip_mode != "norm" && s.clip_mode != "value")
    throw ConfigError("trainer.clip_mode must be norm or value, got '" + s.clip_mode + "'");
  if (s.amp == "false" || s.amp == "none") s.amp.clear();
  if (!s.amp.empty() && s.amp != "bf16" && s.amp != "fp16")
    throw ConfigError("trainer.amp must be null, bf16 or fp16, got '" + s.amp + "'");
  if (s.amp == "fp16" && !device.is_cuda())
    throw ConfigError("trainer.amp=fp16 needs device=cuda (CPU autocast supports bf16 only)");
  // auto: slices feed a CPU's cores; a GPU runs the whole batch at once.
  if (s.batch_split == kAutoSplit) s.batch_split = device.is_cpu() ? 2 : 1;
  if (s.batch_split < 1 || s.batch_split > 256)
    throw ConfigError("trainer.batch_split must be between 1 and 256, got " +
                      std::to_string(s.batch_split));
  if (s.batch_split > 1 && !device.is_cpu())
    throw ConfigError("trainer.batch_split=" + std::to_string(s.batch_split) +
                      " splits batches over CPU threads; on " + device.str() +
                      " leave it at 1 (a GPU runs the whole batch at once)");
  return s;
}

}  // namespace vitrine::train
