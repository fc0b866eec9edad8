// TorchScript export: round trips through save/load for every family of the zoo (custom-op
// and portable flavours), batch sizes other than the traced one, the state dict under the
// model's own names, and errors for shapes a model cannot take.
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/torch.h>

#include <set>
#include <sstream>

#include "config/view.h"
#include "core/error.h"
#include "export/torchscript_export.h"

namespace vitrine::exporter {
namespace {

config::Node model_node(const std::string& name) {
  config::Node node = config::Node::dict();
  node.set("name", config::Node(name));
  return node;
}

config::Node small_resnet() {
  config::Node backbone = model_node("resnet18");
  backbone.set("base_width", config::Node(int64_t{32}));
  return backbone;
}

models::ModelPtr build(const config::Node& node) {
  return models::ModelRegistry::builtin().create(config::ConfigView(node, "model"));
}

torch::jit::Module round_trip(torch::jit::Module& module) {
  std::stringstream bytes;
  module.save(bytes);
  return torch::jit::load(bytes);
}

// Tolerances are relative to the outputs' magnitude (at least 1): the exported forward runs
// image by image, where the eager batch may take other (equally exact) kernel paths.
double output_scale(const std::vector<at::Tensor>& outputs) {
  double m = 1;
  for (const at::Tensor& t : outputs) m = std::max(m, t.abs().max().item<double>());
  return m;
}

struct Case {
  std::string family;
  config::Node node;
  std::vector<int64_t> input;
  bool backbone = true;  // also export part=backbone
};

config::Node with(config::Node node, const std::string& key, config::Node value) {
  node.set(key, std::move(value));
  return node;
}

// One small member of every family (a new family must add itself: see the test below).
std::vector<Case> cases() {
  const config::Node nano_classes = config::Node(int64_t{10});
  return {
      {"ResNet", model_node("resnet18"), {2, 3, 64, 64}},
      {"NAT", model_node("nat_mini"), {1, 3, 64, 64}},
      // Dilation and relative positional bias.
      {"DiNAT", model_node("dinat_nano"), {2, 1, 28, 28}},
      {"DiNAT_s", model_node("dinat_s_tiny"), {1, 3, 64, 64}},
      {"HaloNet", model_node("halonet_nano"), {1, 1, 28, 28}},
      {"HaloNet", model_node("lamhalobotnet50ts_256"), {1, 3, 256, 256}},
      {"Agent-DeiT", model_node("agent_deit_nano"), {1, 1, 28, 28}},
      {"Agent-PVT", model_node("agent_pvt_t"), {1, 3, 224, 224}},
      {"Agent-Swin", model_node("agent_swin_t"), {1, 3, 224, 224}},
      {"DuoFormer", model_node("duoformer_nano"), {1, 1, 32, 32}},
      {"CATANet", model_node("catanet_nano"), {1, 3, 32, 32}, false},
      {"RetinaNet",
       with(model_node("retinanet_r50_fpn"), "backbone", small_resnet()),
       {1, 3, 64, 96}},
      {"UPerNet",
       with(with(model_node("upernet_r50"), "backbone", small_resnet()), "channels",
            config::Node(int64_t{32})),
       {1, 3, 64, 64}},
      // A3-FPN's grid-sample resampling and norms (the Lite setting: 16-channel groups).
      {"UPerNet",
       with(with(with(model_node("upernet_r50"), "backbone", small_resnet()), "channels",
                 config::Node(int64_t{32})),
            "neck", config::Node("a3fpn_lite")),
       {1, 3, 64, 64}},
  };
}

void check(const Case& c, bool backbone, bool portable, double tolerance) {
  const std::string name = c.node.find("name")->as_string();
  SCOPED_TRACE(name + (backbone ? " backbone" : " full") +
               (portable ? " portable" : " custom ops"));
  torch::manual_seed(0);
  models::ModelPtr model = build(c.node);
  if (model->updates_state_in_forward()) {
    // CATANet seeds its token centres from the batch until one training step has set them;
    // a trained model (what one exports) uses its stored centres, image by image.
    torch::NoGradGuard no_grad;
    model->train();
    model->forward(torch::rand({2, c.input[1], c.input[2], c.input[3]}));
  }
  ExportOptions o;
  o.backbone = backbone;
  o.portable = portable;
  o.input = c.input;
  torch::jit::Module exported = export_torchscript(*model, name, o);
  torch::jit::Module loaded = round_trip(exported);
  for (int64_t batch : {c.input[0], int64_t{3}}) {
    const at::Tensor images = torch::randn({batch, c.input[1], c.input[2], c.input[3]});
    const auto want = eager_outputs(*model, images, backbone);
    const auto got = exported_outputs(loaded, images);
    EXPECT_LE(max_abs_difference(want, got), tolerance * output_scale(want)) << "batch " << batch;
  }
  // The file's state dict is the model's, under the model's names.
  const auto params = model->named_parameters();
  size_t matched = 0;
  for (const auto& p : loaded.named_parameters()) {
    ASSERT_TRUE(params.contains(p.name)) << p.name;
    EXPECT_TRUE(torch::equal(params[p.name], p.value)) << p.name;
    ++matched;
  }
  EXPECT_EQ(matched, params.size());
}

TEST(Export, EveryFamilyRoundTripsInBothFlavours) {
  for (const Case& c : cases()) {
    check(c, false, false, 1e-5);
    check(c, false, true, 1e-4);
    if (c.backbone) check(c, true, false, 1e-5);
  }
}

TEST(Export, EveryRegisteredFamilyHasARoundTripCase) {
  std::set<std::string> covered;
  for (const Case& c : cases()) covered.insert(c.family);
  for (const models::ModelEntry& e : models::ModelRegistry::builtin().entries())
    EXPECT_TRUE(covered.count(e.family))
        << e.family << " (" << e.name << ") has no export round trip: add it to cases()";
}

TEST(Export, ShapesTheModelCannotTakeAreNamed) {
  models::ModelPtr model = build(model_node("agent_deit_nano"));
  ExportOptions o;
  o.input = {1, 1, 32, 32};  // built for 28 x 28
  try {
    export_torchscript(*model, "agent_deit_nano", o);
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("agent_deit_nano cannot run on input 1,1,32,32"),
              std::string::npos)
        << e.what();
  }
  o.input = {1, 3, 28, 28};  // three channels into a grey model
  EXPECT_THROW(export_torchscript(*model, "agent_deit_nano", o), ConfigError);
  o.input = {1, 28, 28};
  EXPECT_THROW(export_torchscript(*model, "agent_deit_nano", o), ConfigError);
}

// Issue 24 (9): an exported module fed another image size than it was traced at says which
// size it takes (both flavours; it used to fail inside a traced reshape).
TEST(Export, AnotherInputSizeIsRefusedNamingTheExportedOne) {
  models::ModelPtr model = build(model_node("dinat_nano"));
  model->eval();
  for (const bool portable : {false, true}) {
    ExportOptions o;
    o.input = {1, 1, 28, 28};
    o.portable = portable;
    torch::jit::Module exported = export_torchscript(*model, "dinat_nano", o);
    torch::jit::Module loaded = round_trip(exported);
    EXPECT_NO_THROW(loaded.forward({torch::randn({3, 1, 28, 28})}));
    try {
      loaded.forward({torch::randn({1, 1, 32, 32})});
      ADD_FAILURE() << "a 32 x 32 image went through a module exported at 28 x 28";
    } catch (const std::exception& e) {  // TorchScript's JITException
      EXPECT_NE(std::string(e.what()).find("exported for images [B, 1, 28, 28]"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace vitrine::exporter
