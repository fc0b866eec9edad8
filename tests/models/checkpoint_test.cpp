// Reading torch.save files (zip and legacy, written by PyTorch: tests/fixtures/checkpoints,
// made by tools/make_checkpoint_fixtures.py), loading state dicts into models, saving ours.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "config/view.h"
#include "models/backbones/nat.h"
#include "models/checkpoint/safetensors_file.h"
#include "models/checkpoint/state_dict.h"
#include "models/checkpoint/torch_file.h"
#include "models/registry.h"

namespace vitrine::models::checkpoint {
namespace {

const std::string kFixtures = std::string(VITRINE_SOURCE_DIR) + "/tests/fixtures/checkpoints/";

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("vitrine_ckpt_" + std::to_string(::getpid()) + "_" + name);
}

at::Tensor find(const StateDict& sd, const std::string& name) {
  for (const auto& [k, v] : sd)
    if (k == name) return v;
  ADD_FAILURE() << "no entry " << name;
  return {};
}

// The fixture's tensors, rebuilt here from their arange definitions.
void expect_fixture_state(const StateDict& sd) {
  ASSERT_EQ(sd.size(), 5u);
  EXPECT_EQ(sd[0].first, "a.weight");  // insertion order kept
  const at::Tensor w = find(sd, "a.weight");
  EXPECT_EQ(w.scalar_type(), at::kFloat);
  EXPECT_TRUE(torch::equal(w, torch::arange(12, torch::kFloat).reshape({3, 4})));
  const at::Tensor b = find(sd, "a.bias");
  EXPECT_EQ(b.scalar_type(), at::kDouble);
  EXPECT_TRUE(torch::equal(b, torch::arange(3, torch::kDouble)));
  const at::Tensor n = find(sd, "n.num_batches_tracked");
  EXPECT_EQ(n.scalar_type(), at::kLong);
  EXPECT_EQ(n.dim(), 0);
  EXPECT_EQ(n.item<int64_t>(), 5);
  const at::Tensor v = find(sd, "v");
  EXPECT_TRUE(torch::equal(v, torch::arange(16, torch::kFloat).reshape({4, 4}).t()));
  EXPECT_EQ(v.stride(0), 1);  // the transposed view survived
  const at::Tensor p = find(sd, "p");
  EXPECT_EQ(p.scalar_type(), at::kHalf);
  EXPECT_TRUE(torch::equal(p.to(at::kFloat), torch::arange(6, torch::kFloat)));
}

TEST(Checkpoint, ReadsZipStateDictWrittenByPyTorch) {
  expect_fixture_state(load_state_dict_file(kFixtures + "zip_state_dict.pth"));
}

TEST(Checkpoint, ReadsLegacyStateDictWrittenByPyTorch) {
  expect_fixture_state(load_state_dict_file(kFixtures + "legacy_state_dict.pth"));
}

TEST(Checkpoint, FindsStateDictUnderModelAndStripsDataParallelPrefix) {
  const PyPtr root = read_torch_file(kFixtures + "nested_checkpoint.pth.tar");
  ASSERT_TRUE(root->get("epoch"));
  EXPECT_EQ(root->get("epoch")->integer, 3);
  EXPECT_DOUBLE_EQ(root->get("best_top1")->number, 81.5);
  EXPECT_EQ(root->get("tag")->text, std::string("\x00\xff"
                                                "bytes",
                                                7));
  EXPECT_EQ(root->get("args")->kind, PyValue::Kind::kObject);
  expect_fixture_state(find_state_dict(root, "nested"));
}

// BasicSR saves {"params": state_dict} (and "params_ema" with EMA).
TEST(Checkpoint, FindsBasicSrParams) {
  using Kind = PyValue::Kind;
  auto text = [](const char* s) {
    PyPtr v = PyValue::make(Kind::kString);
    v->text = s;
    return v;
  };
  auto tensor = [](double x) {
    PyPtr v = PyValue::make(Kind::kTensor);
    v->tensor = at::full({2}, x);
    return v;
  };
  PyPtr params = PyValue::make(Kind::kDict), ema = PyValue::make(Kind::kDict);
  params->entries.emplace_back(text("first_conv.weight"), tensor(1));
  ema->entries.emplace_back(text("first_conv.weight"), tensor(2));
  PyPtr root = PyValue::make(Kind::kDict);
  root->entries.emplace_back(text("params_ema"), ema);
  root->entries.emplace_back(text("params"), params);
  StateDict found = find_state_dict(root, "basicsr");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].first, "first_conv.weight");
  EXPECT_EQ(found[0].second[0].item<double>(), 1.0);  // "params", BasicSR's default key
  root->entries.pop_back();
  EXPECT_EQ(find_state_dict(root, "basicsr")[0].second[0].item<double>(), 2.0);
}

void expect_checkpoint_error(const std::string& path, const std::string& fragment) {
  try {
    read_torch_file(path);
    FAIL() << "expected CheckpointError for " << path;
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

std::string write_prefix(const std::string& source, size_t bytes, const std::string& name) {
  std::ifstream in(source, std::ios::binary);
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string path = temp_path(name).string();
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(std::min(bytes, data.size())));
  return path;
}

TEST(Checkpoint, BadFilesGiveErrorsThatNameThem) {
  expect_checkpoint_error("/nonexistent/model.pth",
                          "cannot open checkpoint '/nonexistent/model.pth'");
  const std::string truncated_zip = write_prefix(kFixtures + "zip_state_dict.pth", 900, "zip.pth");
  expect_checkpoint_error(truncated_zip, truncated_zip);
  const std::string truncated_legacy =
      write_prefix(kFixtures + "legacy_state_dict.pth", 1000, "legacy.pth");
  expect_checkpoint_error(truncated_legacy, "truncated");
  const std::string text = temp_path("text.pth").string();
  std::ofstream(text) << "not a checkpoint\n";
  expect_checkpoint_error(text, "not a PyTorch checkpoint");
  for (const auto& p : {truncated_zip, truncated_legacy, text}) std::remove(p.c_str());
}

ModelPtr nano() {
  config::Node empty = config::Node::dict();
  return ModelRegistry::builtin().get("dinat_nano").create(config::ConfigView(empty, "model"));
}

TEST(Checkpoint, SaveThenLoadReproducesLogits) {
  torch::manual_seed(3);
  ModelPtr original = nano();
  torch::manual_seed(4);
  ModelPtr restored = nano();
  original->eval();
  restored->eval();
  const at::Tensor images = torch::randn({2, 1, 28, 28});
  ASSERT_FALSE(torch::allclose(original->forward(images), restored->forward(images)));

  const std::string path = temp_path("nano.pth").string();
  save_state_dict(*original, path);
  save_state_dict(*original, path);  // overwriting in place works and leaves no temporary
  for (const auto& entry : std::filesystem::directory_iterator(temp_path("").parent_path()))
    EXPECT_EQ(entry.path().string().find(path + ".tmp"), std::string::npos);
  const LoadReport report = load_state_dict(*restored, load_state_dict_file(path), true, path);
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.loaded, state_dict_of(*restored).size());
  EXPECT_TRUE(torch::equal(original->forward(images), restored->forward(images)));
  std::remove(path.c_str());
}

TEST(Checkpoint, RegistryLoadsPretrainedWeightsNamedInTheConfig) {
  torch::manual_seed(5);
  ModelPtr original = nano();
  const std::string path = temp_path("pretrained.pth").string();
  save_state_dict(*original, path);
  config::Node node = config::Node::dict();
  node.set("name", "dinat_nano");
  node.set("pretrained", path);
  ModelPtr loaded = ModelRegistry::builtin().create(config::ConfigView(node, "model"));
  original->eval();
  loaded->eval();
  const at::Tensor images = torch::randn({2, 1, 28, 28});
  EXPECT_TRUE(torch::equal(original->forward(images), loaded->forward(images)));
  // A classifier of another size fails strictly, loads the rest otherwise.
  node.set("num_classes", 5);
  EXPECT_THROW(ModelRegistry::builtin().create(config::ConfigView(node, "model")), CheckpointError);
  node.set("pretrained_strict", false);
  ModelPtr partial = ModelRegistry::builtin().create(config::ConfigView(node, "model"));
  EXPECT_TRUE(torch::equal(partial->named_parameters()["norm.weight"],
                           original->named_parameters()["norm.weight"]));
  std::remove(path.c_str());
}

// Logits of the C++ model with weights from a PyTorch model of the official structure
// (tools/make_nat_reference.py: plain-torch neighborhood attention, NAT and DiNAT_s layouts).
void expect_reference_logits(const std::string& file, NATConfig config) {
  const std::string path = kFixtures + file;
  const PyPtr root = read_torch_file(path);
  NAT model(std::move(config));
  model.eval();
  const LoadReport report = load_state_dict(model, find_state_dict(root, path), true, path);
  EXPECT_TRUE(report.clean()) << report.describe();
  const at::Tensor images = root->get("images")->tensor;
  const at::Tensor expected = root->get("logits")->tensor;
  torch::NoGradGuard no_grad;
  const at::Tensor logits = model.forward(images);
  EXPECT_TRUE(torch::allclose(logits, expected, 1e-4, 1e-4))
      << "max difference " << (logits - expected).abs().max().item<float>();
}

TEST(Checkpoint, ReproducesPyTorchReferenceOfTheOfficialNatStructure) {
  NATConfig c;
  c.embed_dim = 16;
  c.depths = {2, 1, 1};
  c.num_heads = {2, 2, 4};
  c.kernel_size = 3;
  c.dilations = {{1, 3}, {1}, {1}};
  c.mlp_ratio = 2.0;
  c.layer_scale = 1e-5;
  c.num_classes = 5;
  c.drop_path_rate = 0;
  expect_reference_logits("nat_reference_nat.pth", c);
  c.layout = NATLayout::kDiNATs;
  c.num_heads = {2, 4, 4};
  c.dilations = {{1, 2}, {1}, {1}};
  c.mlp_ratio = 4.0;
  c.layer_scale = 0;
  expect_reference_logits("nat_reference_dinats.pth", c);
}

TEST(Checkpoint, StrictLoadReportsMissingUnexpectedAndMismatched) {
  ModelPtr model = nano();
  StateDict sd = state_dict_of(*model);
  const at::Tensor before = find(sd, "norm.weight").clone();
  sd.erase(sd.begin());                                // one missing
  sd.emplace_back("extra.weight", torch::zeros({2}));  // one unexpected
  for (auto& [name, t] : sd)
    if (name == "head.weight")
      t = torch::zeros({5, 128});  // one of the wrong shape
    else if (name == "norm.weight")
      t = torch::full_like(t, 7.0);
  try {
    load_state_dict(*model, sd, true, "test.pth");
    FAIL() << "strict load should fail";
  } catch (const CheckpointError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("missing: patch_embed.proj.0.weight"), std::string::npos) << message;
    EXPECT_NE(message.find("unexpected: extra.weight"), std::string::npos) << message;
    EXPECT_NE(message.find("head.weight: checkpoint [5, 128] vs model [10, 128]"),
              std::string::npos)
        << message;
  }
  EXPECT_TRUE(torch::equal(model->named_parameters()["norm.weight"], before));  // untouched
  const LoadReport report = load_state_dict(*model, sd, false, "test.pth");
  EXPECT_EQ(report.missing.size(), 1u);
  EXPECT_EQ(report.unexpected.size(), 1u);
  EXPECT_EQ(report.mismatched.size(), 1u);
  EXPECT_TRUE(torch::equal(model->named_parameters()["norm.weight"], torch::full({128}, 7.0)));
}

}  // namespace
}  // namespace vitrine::models::checkpoint

namespace vitrine::models::checkpoint {
namespace {

// A safetensors file written byte by byte as the format's spec lays it out.
void write_safetensors(const std::filesystem::path& path, const std::string& header,
                       const std::vector<char>& data) {
  std::ofstream out(path, std::ios::binary);
  uint64_t size = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((size >> (8 * i)) & 0xff));
  out << header;
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::vector<char> bytes_of(const at::Tensor& t) {
  const char* p = static_cast<const char*>(t.data_ptr());
  return std::vector<char>(p, p + t.numel() * t.element_size());
}

TEST(Safetensors, ReadsTensorsAsTheSpecLaysThemOut) {
  const at::Tensor a = torch::arange(6, torch::kFloat).view({2, 3}) / 4;
  const at::Tensor b = torch::tensor({7, -9}, torch::kLong);
  std::vector<char> data = bytes_of(a);
  const std::vector<char> tail = bytes_of(b);
  data.insert(data.end(), tail.begin(), tail.end());
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"blocks.0.w":{"dtype":"F32","shape":[2,3],)"
      R"("data_offsets":[0,24]},"blocks.0.idx":{"dtype":"I64","shape":[2],"data_offsets":[24,40]}})";
  const auto path = temp_path("weights.safetensors");
  write_safetensors(path, header, data);
  const StateDict sd = load_state_dict_file(path.string());
  ASSERT_EQ(sd.size(), 2u);
  EXPECT_TRUE(torch::equal(find(sd, "blocks.0.w"), a));
  EXPECT_TRUE(torch::equal(find(sd, "blocks.0.idx"), b));

  auto error_of = [&](const std::string& bad_header, std::vector<char> bad_data) {
    write_safetensors(path, bad_header, bad_data);
    try {
      read_safetensors(path.string());
    } catch (const CheckpointError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", data)
                .find("tensor 'w': data_offsets"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", data)
                .find("dtype F8_E4M3 is not supported"),
            std::string::npos);
  EXPECT_NE(error_of("[1, 2]", data).find("not a JSON object"), std::string::npos);
  std::ofstream(path, std::ios::binary) << "\x10\x00\x00";  // shorter than its length field
  EXPECT_THROW(read_safetensors(path.string()), CheckpointError);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace vitrine::models::checkpoint

namespace vitrine::models::checkpoint {
namespace {

// Issue 24 (7): a flipped byte inside a tensor record fails the record's CRC-32 (PyTorch's own
// reader skips the check); non-finite weights are refused naming the tensor.
TEST(Checkpoint, CorruptRecordsAndNonFiniteWeightsAreRefused) {
  torch::nn::Linear linear(4, 3);
  {
    torch::NoGradGuard no_grad;
    linear->weight.fill_(1234.5678f);  // a pattern to find in the file
  }
  const auto path = temp_path("crc.pth");
  save_state_dict(*linear, path.string());
  ASSERT_NO_THROW(load_state_dict_file(path.string()));

  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const float value = 1234.5678f;
  const size_t at = bytes.find(std::string(reinterpret_cast<const char*>(&value), 4));
  ASSERT_NE(at, std::string::npos);
  for (size_t i = 0; i < 4; ++i) bytes[at + 4 + i] ^= 0x5a;  // the second element, 4 bytes
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    load_state_dict_file(path.string());
    ADD_FAILURE() << "a corrupt record loaded";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("fails its CRC-32 check"), std::string::npos) << e.what();
  }

  {
    torch::NoGradGuard no_grad;
    linear->bias[1] = std::numeric_limits<float>::quiet_NaN();
  }
  save_state_dict(*linear, path.string());
  torch::nn::Linear fresh(4, 3);
  try {
    load_state_dict(*fresh, load_state_dict_file(path.string()), true, path.string());
    ADD_FAILURE() << "NaN weights loaded";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite values (NaN or inf) in bias"),
              std::string::npos)
        << e.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace vitrine::models::checkpoint
