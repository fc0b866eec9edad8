#include "train/checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>

#include <mutex>

#include "models/checkpoint/pickle_reader.h"
#include "models/checkpoint/torch_file.h"

namespace vitrine::train {
namespace ckpt = models::checkpoint;
using ckpt::PyPtr;
using ckpt::PyValue;

namespace {

c10::Dict<std::string, at::Tensor> tensor_dict(
    const std::vector<std::pair<std::string, at::Tensor>>& items) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, tensor] : items) dict.insert(name, tensor.detach().contiguous());
  return dict;
}

std::vector<std::pair<std::string, at::Tensor>> read_tensor_dict(const PyPtr& node,
                                                                 const std::string& what,
                                                                 const std::string& path) {
  if (!node || !node->is(PyValue::Kind::kDict))
    throw ckpt::CheckpointError(path + ": checkpoint has no '" + what + "' dict");
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [key, value] : node->entries) {
    if (!key->is(PyValue::Kind::kString) || !value->is(PyValue::Kind::kTensor))
      throw ckpt::CheckpointError(path + ": '" + what + "' holds " + value->describe());
    out.emplace_back(key->text, value->tensor);
  }
  return out;
}

int64_t read_int(const PyPtr& node, const std::string& key, const std::string& path) {
  const PyPtr v = node ? node->get(key) : nullptr;
  if (!v || !v->is(PyValue::Kind::kInt))
    throw ckpt::CheckpointError(path + ": checkpoint entry '" + key + "' is missing or not an int");
  return v->integer;
}

std::optional<double> read_optional_float(const PyPtr& node, const std::string& key) {
  const PyPtr v = node ? node->get(key) : nullptr;
  if (!v || v->is(PyValue::Kind::kNone)) return std::nullopt;
  if (v->is(PyValue::Kind::kFloat)) return v->number;
  if (v->is(PyValue::Kind::kInt)) return static_cast<double>(v->integer);
  return std::nullopt;
}

}  // namespace

std::vector<char> encode_checkpoint(const CheckpointContents& c) {
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("epoch", c.progress.epoch);
  root.insert("arch", c.arch);
  root.insert("state_dict", tensor_dict(c.model));
  root.insert("optimizer", tensor_dict(c.optimizer));
  if (c.ema) root.insert("state_dict_ema", tensor_dict(*c.ema));
  root.insert("metric", c.progress.metric ? c10::IValue(*c.progress.metric) : c10::IValue());
  root.insert("version", int64_t{2});

  c10::impl::GenericDict own(c10::StringType::get(), c10::AnyType::get());
  own.insert("global_step", c.progress.global_step);
  own.insert("best_metric",
             c.progress.best_metric ? c10::IValue(*c.progress.best_metric) : c10::IValue());
  own.insert("best_epoch", c.progress.best_epoch);
  c10::List<double> top_metrics;
  c10::List<int64_t> top_epochs;
  for (const auto& [metric, epoch] : c.progress.top_k) {
    top_metrics.push_back(metric);
    top_epochs.push_back(epoch);
  }
  own.insert("top_k_metrics", top_metrics);
  own.insert("top_k_epochs", top_epochs);
  own.insert("ema_updates", c.progress.ema_updates);
  own.insert("rng_state", c.rng_state);
  own.insert("config", c.config_yaml);
  root.insert("vitrine", own);
  return torch::pickle_save(c10::IValue(root));
}

CheckpointContents read_checkpoint(const std::string& path) {
  const PyPtr root = ckpt::read_torch_file(path);
  if (!root->is(PyValue::Kind::kDict))
    throw ckpt::CheckpointError(path + ": not a training checkpoint (top level is " +
                                root->describe() + ")");
  const PyPtr own = root->get("vitrine");
  if (!own)
    throw ckpt::CheckpointError(path +
                                ": not a Vitrine training checkpoint (no 'vitrine' entry): a plain "
                                "state dict loads as model.pretrained=PATH (with model=NAME)");
  CheckpointContents c;
  if (const PyPtr arch = root->get("arch"); arch && arch->is(PyValue::Kind::kString))
    c.arch = arch->text;
  c.model = read_tensor_dict(root->get("state_dict"), "state_dict", path);
  c.optimizer = read_tensor_dict(root->get("optimizer"), "optimizer", path);
  if (const PyPtr ema = root->get("state_dict_ema"))
    c.ema = read_tensor_dict(ema, "state_dict_ema", path);
  c.progress.epoch = read_int(root, "epoch", path);
  c.progress.metric = read_optional_float(root, "metric");
  c.progress.global_step = read_int(own, "global_step", path);
  c.progress.best_metric = read_optional_float(own, "best_metric");
  c.progress.best_epoch = read_int(own, "best_epoch", path);
  c.progress.ema_updates = read_int(own, "ema_updates", path);
  const PyPtr metrics = own->get("top_k_metrics"), epochs = own->get("top_k_epochs");
  if (metrics && epochs && metrics->items.size() == epochs->items.size())
    for (size_t i = 0; i < metrics->items.size(); ++i) {
      const auto& m = metrics->items[i];
      c.progress.top_k.emplace_back(
          m->is(PyValue::Kind::kFloat) ? m->number : static_cast<double>(m->integer),
          epochs->items[i]->integer);
    }
  const PyPtr rng = own->get("rng_state");
  if (!rng || !rng->is(PyValue::Kind::kTensor))
    throw ckpt::CheckpointError(path + ": checkpoint has no RNG state");
  c.rng_state = rng->tensor;
  if (const PyPtr config = own->get("config"); config && config->is(PyValue::Kind::kString))
    c.config_yaml = config->text;
  return c;
}

at::Tensor torch_rng_state() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_torch_rng_state(const at::Tensor& state) {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

}  // namespace vitrine::train
