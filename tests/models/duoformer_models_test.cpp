// DuoFormer: exact parameter counts of our reading of the official model (R50, 4 scales,
// 768 wide, 12 blocks: 139,990,594 with the random scale token and 2 classes — the paper's
// ~140M), the official module names, the region grouping of each backbone level (layer3's
// 2x2 in the official column-major order, layer2's 4x4 row-major), and a forward pass.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "config/view.h"
#include "core/error.h"
#include "models/backbones/duoformer.h"
#include "models/checkpoint/state_dict.h"
#include "models/registry.h"

namespace vitrine::models {
namespace {

ModelPtr create(const std::string& name, config::Node overrides = config::Node::dict()) {
  return ModelRegistry::builtin().get(name).create(config::ConfigView(overrides, "model"));
}

TEST(DuoFormer, ParameterCountsAndNames) {
  config::Node o = config::Node::dict();
  o.set("num_classes", 2);
  ModelPtr random = create("duoformer_r50", o);
  EXPECT_EQ(count_parameters(*random), 139990594);
  ModelPtr channel = create("duoformer_r50_channel", o);
  EXPECT_EQ(count_parameters(*channel), 186006338);
  const auto params = channel->named_parameters();
  for (const char* name :
       {"resnet_projector.0.weight", "resnet_projector.1.weight",
        "resnet_projector.4.0.conv1.weight", "resnet_projector.7.2.bn3.bias",
        "projection.proj_heads0.weight", "projection.proj_heads3.bias", "chann_proj1.conv2.weight",
        "chann_proj2.conv1.bias", "chann_proj_all.nConvs.3.norm.weight",
        "vision_transformer.cls_token", "vision_transformer.pos_embed",
        "vision_transformer.pos_embed_for_scale", "vision_transformer.blocks.11.attn.qkv1.weight",
        "vision_transformer.blocks.0.attn.proj.bias", "vision_transformer.blocks.0.ls1.gamma",
        "vision_transformer.norm.weight", "vision_transformer.head.weight"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_EQ(params["vision_transformer.pos_embed_for_scale"].sizes(),
            (std::vector<int64_t>{1, 1, 86, 768}));
  EXPECT_TRUE(random->named_parameters().contains("vision_transformer.cls_token1"));
}

// Issue 26 (2): the official MyModel (189,136,936 parameters, 1000 classes) owns q_norm and
// k_norm in every block's attention (its positional call into timm's Attention) and a ViT patch
// embedding, neither used by its forward. duoformer_r50_official has the norms and drops the
// patch embedding.
TEST(DuoFormer, OfficialVariantCountsTheOfficialModelLessItsPatchEmbedding) {
  ModelPtr official = create("duoformer_r50_official");
  const int64_t patch_embedding = 768 * 3 * 32 * 32 + 768;
  EXPECT_EQ(count_parameters(*official), 189136936 - patch_embedding);
  EXPECT_EQ(count_parameters(*official) - count_parameters(*create("duoformer_r50_channel")),
            12 * 2 * (64 + 64));
  const auto params = official->named_parameters();
  for (const char* block : {"0", "11"})
    for (const char* norm : {"q_norm", "k_norm"})
      for (const char* tensor : {"weight", "bias"}) {
        const std::string name =
            std::string("vision_transformer.blocks.") + block + ".attn." + norm + "." + tensor;
        ASSERT_TRUE(params.contains(name)) << name;
        EXPECT_EQ(params[name].sizes(), (std::vector<int64_t>{64}));
      }
}

// A state dict with the official names — the unused norms and the patch embedding — loads
// strictly into the official form (the patch embedding left out with a note) and computes what
// the model that wrote it computes; the norms change nothing (equal to the form without them).
TEST(DuoFormer, OfficialStateDictLoadsStrictlyAndItsNormsChangeNothing) {
  torch::manual_seed(11);
  config::Node with_norms = config::Node::dict();
  with_norms.set("official_qk_norms", true);
  ModelPtr source = create("duoformer_nano", with_norms);
  EXPECT_TRUE(
      source->named_parameters().contains("vision_transformer.blocks.1.attn.q_norm.weight"));
  for (auto& p : source->named_parameters())  // norms away from (1, 0): a use would show
    if (p.key().find("_norm.") != std::string::npos) p.value().data().uniform_(0.5, 1.5);
  auto patch_embed = std::make_shared<torch::nn::Module>();
  patch_embed->register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 64, 32)));
  source->named_children()["vision_transformer"]->register_module("patch_embed", patch_embed);
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("duoformer_official_" + std::to_string(::getpid()) + ".pth"))
                               .string();
  checkpoint::save_state_dict(*source, path);

  // Through the registry, which reads model.pretrained (strict unless told otherwise).
  auto load = [&](bool norms, bool strict) {
    config::Node node = config::Node::dict();
    node.set("name", "duoformer_nano");
    node.set("official_qk_norms", norms);
    node.set("pretrained", path);
    node.set("pretrained_strict", strict);
    return ModelRegistry::builtin().create(config::ConfigView(node, "model"));
  };
  ModelPtr loaded = load(true, true);
  EXPECT_THROW(load(false, true), std::exception);  // without the norms they are unexpected
  ModelPtr plain = load(false, false);
  std::filesystem::remove(path);

  source->eval();
  loaded->eval();
  plain->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor images = torch::randn({2, 1, 32, 32});
  const at::Tensor expected = source->forward(images);
  EXPECT_TRUE(torch::equal(loaded->forward(images), expected))
      << (loaded->forward(images) - expected).abs().max();
  EXPECT_TRUE(torch::equal(plain->forward(images), expected))
      << (plain->forward(images) - expected).abs().max();
}

// Multi-head self-attention over the second-to-last axis of x [..., N, D], written out as the
// official timm-style code does it: qkv reshaped to (N, 3, heads, head_dim), logits x scale.
at::Tensor written_out_attention(const at::Tensor& x, const at::Tensor& w_qkv,
                                 const at::Tensor& b_qkv, const at::Tensor& w_proj,
                                 const at::Tensor& b_proj, int64_t heads, double scale) {
  const int64_t N = x.size(-2), D = x.size(-1);
  const at::Tensor flat = x.reshape({-1, N, D});
  const at::Tensor qkv = at::linear(flat, w_qkv, b_qkv)
                             .reshape({flat.size(0), N, 3, heads, D / heads})
                             .permute({2, 0, 3, 1, 4});
  const at::Tensor attn = at::softmax(at::matmul(qkv[0], qkv[1].transpose(-2, -1)) * scale, -1);
  const at::Tensor out = at::matmul(attn, qkv[2]).transpose(1, 2).reshape({flat.size(0), N, D});
  return at::linear(out, w_proj, b_proj).reshape(x.sizes());
}

// Issue 26 (2): official_forward is the official MyModel's forward, written out from its code
// (multi_vision_transformer.py, multiscale_attn.py): twelve pre-LN scale blocks with LayerScale
// (qkv1/proj1, 2/sqrt(D)), then block 0's bare region attention (qkv/proj, 2/sqrt(D)) over the
// class token and the scale tokens + pos_embed, then the last block's over that, norm, head.
TEST(DuoFormer, OfficialForwardIsTheOfficialModelsForward) {
  torch::manual_seed(12);
  config::Node o = config::Node::dict();
  o.set("official_forward", true);
  o.set("depth", 3);  // a middle block, which the official loop leaves out of the result
  ModelPtr model = create("duoformer_nano", o);
  auto params = model->named_parameters();
  for (auto& p : params)  // LayerScale and norms away from their initial values
    if (p.key().find("gamma") != std::string::npos || p.key().find("norm") != std::string::npos)
      p.value().data().uniform_(0.5, 1.5);
  for (const char* token : {"vision_transformer.cls_token", "vision_transformer.pos_embed"})
    params[token].data().normal_(0, 0.5);
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor images = torch::randn({2, 1, 32, 32});
  const at::Tensor logits = model->forward(images);

  const std::string vit = "vision_transformer.";
  auto p = [&](const std::string& name) { return params[vit + name]; };
  auto layer_norm = [&](const at::Tensor& x, const std::string& name) {
    return at::layer_norm(x, {64}, p(name + ".weight"), p(name + ".bias"), 1e-6);
  };
  const double scale = 2.0 / std::sqrt(64.0);
  at::Tensor x =
      std::dynamic_pointer_cast<DuoFormer>(model)->region_tokens(images) + p("pos_embed_for_scale");
  for (int block = 0; block < 3; ++block) {
    const std::string b = "blocks." + std::to_string(block) + ".";
    x = x + p(b + "ls1.gamma") *
                written_out_attention(layer_norm(x, b + "norm1"), p(b + "attn.qkv1.weight"),
                                      p(b + "attn.qkv1.bias"), p(b + "attn.proj1.weight"),
                                      p(b + "attn.proj1.bias"), 4, scale);
    const at::Tensor hidden = at::gelu(
        at::linear(layer_norm(x, b + "norm2"), p(b + "mlp.fc1.weight"), p(b + "mlp.fc1.bias")));
    x = x + p(b + "ls2.gamma") * at::linear(hidden, p(b + "mlp.fc2.weight"), p(b + "mlp.fc2.bias"));
  }
  at::Tensor t = at::cat({p("cls_token").expand({2, -1, -1}), x.select(2, 0)}, 1) + p("pos_embed");
  for (const char* b : {"blocks.0.", "blocks.2."})
    t = written_out_attention(
        t, p(std::string(b) + "attn.qkv.weight"), p(std::string(b) + "attn.qkv.bias"),
        p(std::string(b) + "attn.proj.weight"), p(std::string(b) + "attn.proj.bias"), 4, scale);
  const at::Tensor expected =
      at::linear(layer_norm(t.select(1, 0), "norm"), p("head.weight"), p("head.bias"));
  EXPECT_TRUE(torch::allclose(logits, expected, 1e-4, 1e-5)) << (logits - expected).abs().max();
  // Ours (the default) is another network on the same weights.
  o.set("official_forward", false);
  ModelPtr ours = create("duoformer_nano", o);
  ours->eval();
  for (auto& q : ours->named_parameters()) q.value().data().copy_(params[q.key()]);
  EXPECT_FALSE(torch::allclose(ours->forward(images), expected, 1e-3, 1e-3));
  o.set("official_forward", true);
  o.set("depth", 1);
  EXPECT_THROW(create("duoformer_nano", o), ConfigError);
}

TEST(DuoFormer, RegionTokensFollowTheOfficialGrouping) {
  config::Node o = config::Node::dict();
  o.set("img_size", 64);  // a 2x2 grid of regions
  o.set("embed_dim", 32);
  o.set("num_heads", 4);
  o.set("depth", 1);
  o.set("scales", 3);
  o.set("num_classes", 3);
  auto model = std::dynamic_pointer_cast<DuoFormer>(create("duoformer_r50", o));
  ASSERT_TRUE(model);
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({1, 3, 64, 64});
  const at::Tensor tokens = model->region_tokens(x);
  ASSERT_EQ(tokens.sizes(), (std::vector<int64_t>{1, 4, 22, 32}));
  const auto f = model->forward_features(x);
  auto project = [&](int level) {
    auto conv = model->named_modules()["projection.proj_heads" + std::to_string(level)]
                    ->as<torch::nn::Conv2d>();
    return conv->forward(f[level])[0];  // [D, side, side]
  };
  const at::Tensor p3 = project(3), p2 = project(2), p1 = project(1);
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 2; ++c) {
      const at::Tensor t = tokens[0][r * 2 + c];  // [22, D]
      EXPECT_TRUE(at::allclose(t[1], p3.select(1, r).select(1, c)));
      // layer3: (2r,2c), (2r+1,2c), (2r,2c+1), (2r+1,2c+1)
      EXPECT_TRUE(at::allclose(t[2], p2.select(1, 2 * r).select(1, 2 * c)));
      EXPECT_TRUE(at::allclose(t[3], p2.select(1, 2 * r + 1).select(1, 2 * c)));
      EXPECT_TRUE(at::allclose(t[4], p2.select(1, 2 * r).select(1, 2 * c + 1)));
      // layer2: row-major 4x4
      EXPECT_TRUE(at::allclose(t[6 + 1 * 4 + 2], p1.select(1, 4 * r + 1).select(1, 4 * c + 2)));
    }
  const at::Tensor logits = model->forward(x);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{1, 3}));
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
  EXPECT_THROW(model->forward(at::randn({1, 3, 96, 96})), c10::Error);
}

}  // namespace
}  // namespace vitrine::models
