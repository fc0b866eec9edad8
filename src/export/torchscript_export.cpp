#include "export/torchscript_export.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/compilation_unit.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "attention/ops/na_functional.h"
#include "attention/ops/na_reference.h"
#include "core/error.h"
#include "layers/depthwise_conv.h"
#include "layers/gelu.h"

namespace vitrine::exporter {
namespace {

// A TorchScript class name from a module path ("levels.0.blocks.1" -> "levels_0_blocks_1").
std::string class_name(const std::string& path, int64_t& counter) {
  std::string out = path.empty() ? "root" : path;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return "__torch__.vitrine." + out + "_" + std::to_string(counter++);
}

// The jit mirror of `module`: the same parameters, buffers and children under the same names
// (sharing the tensors, so the tracer sees them as attributes of self).
torch::jit::Module mirror(const torch::nn::Module& module, const std::string& path,
                          const std::shared_ptr<torch::jit::CompilationUnit>& unit,
                          int64_t& counter) {
  torch::jit::Module out(c10::QualifiedName(class_name(path, counter)), unit, true);
  out.register_attribute("training", c10::BoolType::get(), module.is_training());
  for (const auto& p : module.named_parameters(/*recurse=*/false))
    if (p.value().defined()) out.register_parameter(p.key(), p.value(), false);
  for (const auto& b : module.named_buffers(/*recurse=*/false))
    if (b.value().defined()) out.register_buffer(b.key(), b.value());
  for (const auto& child : module.named_children())
    out.register_module(
        child.key(), mirror(*child.value(), path.empty() ? child.key() : path + "." + child.key(),
                            unit, counter));
  return out;
}

// The reference's neighbour table for the spatial sizes of `x` [B, heads, *spatial, D], built
// with tracing paused: it is filled through accessors the tracer cannot see, so it must enter
// the graph as a constant rather than as the traced zeros it starts from.
attention::reference::NeighborTable untraced_table(const at::Tensor& x,
                                                   const attention::NaOptions& o) {
  std::vector<int64_t> lengths(x.sizes().begin() + 2, x.sizes().end() - 1);
  const auto state = torch::jit::tracer::getTracingState();
  torch::jit::tracer::setTracingState(nullptr);
  attention::reference::NeighborTable table =
      attention::reference::neighbor_table(lengths, o.kernel_size, o.dilation, o.is_causal);
  torch::jit::tracer::setTracingState(state);
  return table;
}

// Stock-op neighborhood attention (the reference's gathers and bmm) for the portable flavour.
const attention::NaOverride& stock_na() {
  static const attention::NaOverride override{
      [](const at::Tensor& q, const at::Tensor& k, const c10::optional<at::Tensor>& rpb,
         const attention::NaOptions& o) {
        return attention::reference::qk(q, k, rpb, untraced_table(q, o));
      },
      [](const at::Tensor& attn, const at::Tensor& v, const attention::NaOptions& o) {
        return attention::reference::av(attn, v, untraced_table(v, o));
      }};
  return override;
}

c10::IValue pack(const std::vector<at::Tensor>& outputs, bool tuple) {
  if (!tuple) return outputs.front();
  std::vector<c10::IValue> items(outputs.begin(), outputs.end());
  return c10::ivalue::Tuple::create(std::move(items));
}

// The first lines of forward: tracing fixed the image size, so another one is refused naming
// the size the module takes (instead of failing deep inside a traced reshape).
std::string input_check_source(const std::vector<int64_t>& input) {
  std::ostringstream s;
  s << "    assert images.dim() == 4 and images.size(1) == " << input[1]
    << " and images.size(2) == " << input[2] << " and images.size(3) == " << input[3]
    << ", \"this module was exported for images [B, " << input[1] << ", " << input[2] << ", "
    << input[3] << "] (any batch B); export again with input=B,C,H,W for another size\"\n";
  return s.str();
}

// forward over any batch: each image through the traced single-image method, outputs
// concatenated along the batch.
std::string batch_loop_source(size_t outputs, bool tuple, const std::vector<int64_t>& input) {
  std::ostringstream s;
  if (!tuple) {
    s << "def forward(self, images: Tensor) -> Tensor:\n"
      << input_check_source(input)
      << "    parts: List[Tensor] = []\n"
         "    for i in range(images.size(0)):\n"
         "        parts.append(self.forward_one(images[i:i + 1]))\n"
         "    return torch.cat(parts, 0)\n";
    return s.str();
  }
  s << "def forward(self, images: Tensor) -> Tuple[";
  for (size_t i = 0; i < outputs; ++i) s << (i ? ", " : "") << "Tensor";
  s << "]:\n" << input_check_source(input);
  for (size_t i = 0; i < outputs; ++i) s << "    level" << i << ": List[Tensor] = []\n";
  s << "    for i in range(images.size(0)):\n"
       "        out = self.forward_one(images[i:i + 1])\n";
  for (size_t i = 0; i < outputs; ++i) s << "        level" << i << ".append(out[" << i << "])\n";
  s << "    return (";
  for (size_t i = 0; i < outputs; ++i) s << (i ? ", " : "") << "torch.cat(level" << i << ", 0)";
  s << (outputs == 1 ? ",)\n" : ")\n");
  return s.str();
}

}  // namespace

std::vector<at::Tensor> eager_outputs(models::Model& model, const at::Tensor& images,
                                      bool backbone) {
  torch::NoGradGuard no_grad;
  model.eval();
  if (backbone) return model.forward_features(images);
  return {model.forward(images)};
}

std::vector<at::Tensor> exported_outputs(torch::jit::Module& module, const at::Tensor& images) {
  torch::NoGradGuard no_grad;
  const c10::IValue out = module.forward({images});
  if (out.isTensor()) return {out.toTensor()};
  std::vector<at::Tensor> levels;
  for (const c10::IValue& v : out.toTupleRef().elements()) levels.push_back(v.toTensor());
  return levels;
}

double max_abs_difference(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].sizes() != b[i].sizes()) return std::numeric_limits<double>::infinity();
    if (a[i].numel() == 0) continue;
    worst =
        std::max(worst, (a[i].to(at::kDouble) - b[i].to(at::kDouble)).abs().max().item<double>());
  }
  return worst;
}

torch::jit::Module export_torchscript(models::Model& model, const std::string& name,
                                      const ExportOptions& options) {
  if (options.input.size() != 4 || options.input[0] < 1 || options.input[1] < 1 ||
      options.input[2] < 1 || options.input[3] < 1)
    throw ConfigError("export: input must be B,C,H,W with positive sizes");
  model.eval();
  const at::Tensor example = at::randn(
      {1, options.input[1], options.input[2], options.input[3]},
      model.parameters().empty() ? at::TensorOptions() : model.parameters().front().options());
  // Run it once untraced: a shape the model cannot take fails here with the model's message.
  size_t outputs = 1;
  try {
    outputs = eager_outputs(model, example, options.backbone).size();
  } catch (const c10::Error& e) {
    throw ConfigError("export: " + name + " cannot run on input " +
                      std::to_string(options.input[0]) + "," + std::to_string(options.input[1]) +
                      "," + std::to_string(options.input[2]) + "," +
                      std::to_string(options.input[3]) + ": " + e.what_without_backtrace());
  }

  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  int64_t counter = 0;
  torch::jit::Module root = mirror(model, "", unit, counter);
  root.eval();

  const bool tuple = options.backbone;
  std::unique_ptr<attention::NaOverrideScope> portable;
  std::unique_ptr<layers::StockDepthwiseScope> portable_depthwise;
  std::unique_ptr<layers::StockGeluScope> portable_gelu;
  if (options.portable) {
    portable = std::make_unique<attention::NaOverrideScope>(&stock_na());
    portable_depthwise = std::make_unique<layers::StockDepthwiseScope>();
    portable_gelu = std::make_unique<layers::StockGeluScope>();
  }
  torch::NoGradGuard no_grad;
  auto traced = torch::jit::tracer::trace(
      {example},
      [&](torch::jit::Stack inputs) -> torch::jit::Stack {
        return {pack(eager_outputs(model, inputs.at(0).toTensor(), options.backbone), tuple)};
      },
      [](const at::Tensor&) { return std::string(); }, /*strict=*/true, /*force_outplace=*/false,
      &root);
  std::shared_ptr<torch::jit::Graph> graph = traced.first->graph;
  torch::jit::EliminateDeadCode(graph);
  auto* method =
      unit->create_function(c10::QualifiedName(*root.type()->name(), "forward_one"), graph);
  root.type()->addMethod(method);
  root.define(batch_loop_source(outputs, tuple, options.input));
  return root;
}

}  // namespace vitrine::exporter
