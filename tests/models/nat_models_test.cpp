// The NAT family against the official implementation's facts: exact parameter counts,
// pyramid shapes, dilation schedules, validation errors, drop path.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "config/view.h"
#include "core/error.h"
#include "layers/drop_path.h"
#include "models/backbones/na_transformer_layer.h"
#include "models/backbones/nat.h"
#include "models/backbones/nat_complexity.h"
#include "models/registry.h"

namespace vitrine::models {
namespace {

ModelPtr create(const std::string& name, config::Node overrides = config::Node::dict()) {
  return ModelRegistry::builtin().get(name).create(config::ConfigView(overrides, "model"));
}

struct OfficialCount {
  const char* name;
  int64_t params;
};

// Checks that the model's tokenizer maps `images` to layer_norm(`before_norm`) with its own norm
// (the tokenizer written out up to the norm by the caller).
void expect_stem_output(const std::shared_ptr<NAT>& model, const at::Tensor& images,
                        const at::Tensor& before_norm) {
  auto params = model->named_parameters();
  const at::Tensor expected =
      at::layer_norm(before_norm.permute({0, 2, 3, 1}), {before_norm.size(1)},
                     params["patch_embed.norm.weight"], params["patch_embed.norm.bias"], 1e-5);
  auto stem = std::dynamic_pointer_cast<Stem>(model->named_children()["patch_embed"]);
  ASSERT_TRUE(stem);
  const at::Tensor tokens = stem->forward(images);
  EXPECT_TRUE(at::allclose(tokens, expected, 1e-5, 1e-5)) << (tokens - expected).abs().max();
}

// torch's grouped conv on a channels-last map (stride 1, same padding): the reference the
// depthwise convs of the layers are written out with.
at::Tensor depthwise_reference(const at::Tensor& map, const at::Tensor& weight,
                               const at::Tensor& bias) {
  return at::conv2d(map.permute({0, 3, 1, 2}), weight, bias, 1, (weight.size(2) - 1) / 2, 1,
                    map.size(3))
      .permute({0, 2, 3, 1});
}

// One small NA layer with 3x3 windows.
NATLayerOptions small_layer(int64_t dim, int64_t heads) {
  NATLayerOptions o;
  o.dim = dim;
  o.num_heads = heads;
  o.kernel_size = 3;
  o.mlp_ratio = 2;
  return o;
}

void PrintTo(const OfficialCount& c, std::ostream* os) {
  *os << c.name;
}

// The parameter counts of the official PyTorch models (1000 classes), from issue #4.
class OfficialParameterCount : public ::testing::TestWithParam<OfficialCount> {};

TEST_P(OfficialParameterCount, BuiltModuleAndAnalyticCountMatchTheOfficialModel) {
  const OfficialCount& expected = GetParam();
  const ModelEntry& entry = ModelRegistry::builtin().get(expected.name);
  EXPECT_EQ(entry.count_parameters(), expected.params);
  ModelPtr model = create(expected.name);
  EXPECT_EQ(count_parameters(*model), expected.params);
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, OfficialParameterCount,
    ::testing::Values(OfficialCount{"nat_mini", 19984174}, OfficialCount{"nat_tiny", 27901582},
                      OfficialCount{"nat_small", 50743297}, OfficialCount{"nat_base", 89769652},
                      OfficialCount{"dinat_mini", 19984174}, OfficialCount{"dinat_tiny", 27901582},
                      OfficialCount{"dinat_small", 50719681}, OfficialCount{"dinat_base", 89769652},
                      OfficialCount{"dinat_large", 200943514},
                      OfficialCount{"dinat_s_tiny", 28288354},
                      OfficialCount{"dinat_s_small", 49606258},
                      OfficialCount{"dinat_s_base", 87768224},
                      OfficialCount{"dinat_s_large", 196532476}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(NatModels, AnalyticCountFollowsOverrides) {
  config::Node o = config::Node::dict();
  o.set("num_classes", 0);
  o.set("in_chans", 1);
  o.set("layer_scale", 1e-5);
  const ModelEntry& entry = ModelRegistry::builtin().get("dinat_nano");
  auto model = std::dynamic_pointer_cast<NAT>(entry.create(config::ConfigView(o, "model")));
  ASSERT_TRUE(model);
  EXPECT_EQ(count_parameters(*model), nat_parameter_count(model->config()));
  EXPECT_GT(nat_parameter_count(model->config()), 0);
}

TEST(NatModels, OfficialParameterNames) {
  ModelPtr nat = create("nat_small");
  auto params = nat->named_parameters();
  for (const char* name :
       {"patch_embed.proj.0.weight", "patch_embed.proj.1.bias", "patch_embed.norm.weight",
        "levels.0.blocks.0.norm1.weight", "levels.0.blocks.0.attn.qkv.weight",
        "levels.0.blocks.0.attn.rpb", "levels.0.blocks.0.attn.proj.bias",
        "levels.0.blocks.0.mlp.fc1.weight", "levels.0.blocks.0.mlp.fc2.weight",
        "levels.0.blocks.0.gamma1", "levels.2.blocks.17.gamma2",
        "levels.0.downsample.reduction.weight", "levels.2.downsample.norm.bias", "norm.weight",
        "head.weight", "head.bias"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_FALSE(params.contains("levels.3.downsample.reduction.weight"));
  EXPECT_FALSE(params.contains("levels.0.downsample.reduction.bias"));  // bias=False
  EXPECT_EQ(params["levels.1.blocks.0.attn.rpb"].sizes(), (std::vector<int64_t>{6, 13, 13}));

  ModelPtr swin_like = create("dinat_s_tiny");
  auto p2 = swin_like->named_parameters();
  for (const char* name :
       {"patch_embed.proj.weight", "layers.0.blocks.1.attn.rpb", "layers.0.downsample.norm.weight",
        "layers.0.downsample.reduction.weight"})
    EXPECT_TRUE(p2.contains(name)) << name;
  EXPECT_EQ(p2["layers.0.downsample.reduction.weight"].sizes(), (std::vector<int64_t>{192, 384}));
  EXPECT_EQ(p2["layers.0.downsample.norm.weight"].sizes(), (std::vector<int64_t>{384}));
}

TEST(NatModels, ArchitectureKeysOverrideTheVariant) {
  config::Node o = config::Node::dict();
  o.set("embed_dim", 16);
  o.set("depths", config::Node(config::List{config::Node(1), config::Node(1)}));
  o.set("num_heads", config::Node(config::List{config::Node(1), config::Node(2)}));
  o.set("dilations", config::Node(config::List{config::Node(config::List{config::Node(2)}),
                                               config::Node(config::List{config::Node(1)})}));
  o.set("stem_stride", 2);
  auto model = std::dynamic_pointer_cast<NAT>(create("dinat_nano", o));
  ASSERT_TRUE(model);
  EXPECT_EQ(count_parameters(*model), nat_parameter_count(model->config()));
  model->eval();
  torch::NoGradGuard no_grad;
  // Stem stride 2: 28x28 -> 14x14 tokens of 16 channels, then 7x7 of 32.
  const auto levels = model->forward_features(torch::randn({2, 1, 28, 28}));
  ASSERT_EQ(levels.size(), 2u);
  EXPECT_EQ(levels[0].sizes(), (std::vector<int64_t>{2, 16, 14, 14}));
  EXPECT_EQ(levels[1].sizes(), (std::vector<int64_t>{2, 32, 7, 7}));
  // The same parameters as stride 4, four times the level-0 tokens in the FLOP count.
  config::Node four = o;
  four.set("stem_stride", 4);
  auto coarse = std::dynamic_pointer_cast<NAT>(create("dinat_nano", four));
  EXPECT_EQ(count_parameters(*coarse), count_parameters(*model));
  EXPECT_GT(model->flops(28), 2 * coarse->flops(28));
  four.set("stem_stride", 3);
  EXPECT_THROW(create("dinat_nano", four), ConfigError);
}

// stem_activation (ours): a GELU between the tokenizer's two convs, written out here with the
// tokenizer's own weights; parameters (count and names) as without it.
TEST(NatModels, StemActivationPutsAGeluBetweenTheTokenizerConvs) {
  torch::manual_seed(3);
  config::Node o = config::Node::dict();
  o.set("stem_activation", true);
  auto model = std::dynamic_pointer_cast<NAT>(create("dinat_nano", o));
  ASSERT_TRUE(model);
  EXPECT_EQ(count_parameters(*model), nat_parameter_count(model->config()));
  const auto params = model->named_parameters();
  ASSERT_TRUE(params.contains("patch_embed.proj.0.weight"));
  ASSERT_TRUE(params.contains("patch_embed.proj.2.weight"));
  EXPECT_FALSE(params.contains("patch_embed.proj.1.weight"));
  torch::NoGradGuard no_grad;
  const at::Tensor images = torch::randn({2, 1, 28, 28});
  at::Tensor x = at::conv2d(images, params["patch_embed.proj.0.weight"],
                            params["patch_embed.proj.0.bias"], 2, 1);
  x = at::gelu(x);
  x = at::conv2d(x, params["patch_embed.proj.2.weight"], params["patch_embed.proj.2.bias"], 2, 1);
  expect_stem_output(model, images, x);
  auto plain = std::dynamic_pointer_cast<NAT>(create("dinat_nano"));
  EXPECT_EQ(count_parameters(*plain), count_parameters(*model));
}

// stem_width and stem_convs (ours): the tokenizer's hidden channels and extra 3x3 conv + GELU
// pairs at its hidden resolution, written out with the tokenizer's own weights.
TEST(NatModels, StemWidthAndConvsAddAConvStageBeforeTheTokens) {
  torch::manual_seed(4);
  config::Node o = config::Node::dict();
  o.set("stem_activation", true);
  o.set("stem_width", 24);
  o.set("stem_convs", 2);
  auto model = std::dynamic_pointer_cast<NAT>(create("dinat_nano", o));
  ASSERT_TRUE(model);
  EXPECT_EQ(count_parameters(*model), nat_parameter_count(model->config()));
  auto params = model->named_parameters();
  for (const char* name : {"patch_embed.proj.0.weight", "patch_embed.proj.2.weight",
                           "patch_embed.proj.4.weight", "patch_embed.proj.6.weight"})
    ASSERT_TRUE(params.contains(name)) << name;
  EXPECT_EQ(params["patch_embed.proj.0.weight"].sizes(), (std::vector<int64_t>{24, 1, 3, 3}));
  EXPECT_EQ(params["patch_embed.proj.6.weight"].sizes(), (std::vector<int64_t>{32, 24, 3, 3}));
  torch::NoGradGuard no_grad;
  const at::Tensor images = torch::randn({2, 1, 28, 28});
  auto conv = [&](const at::Tensor& x, int index, int64_t stride) {
    const std::string p = "patch_embed.proj." + std::to_string(index);
    return at::conv2d(x, params[p + ".weight"], params[p + ".bias"], stride, 1);
  };
  at::Tensor x = at::gelu(conv(images, 0, 2));
  x = at::gelu(conv(x, 2, 1));
  x = at::gelu(conv(x, 4, 1));
  expect_stem_output(model, images, conv(x, 6, 2));
  // Each extra conv costs its MACs at 14x14 in the FLOP count.
  config::Node fewer = o;
  fewer.set("stem_convs", 1);
  auto one = std::dynamic_pointer_cast<NAT>(create("dinat_nano", fewer));
  EXPECT_DOUBLE_EQ(model->flops(28) - one->flops(28), 14.0 * 14 * 24 * 24 * 9);
  // Extra convs without activations would compose to one linear map: refused.
  config::Node linear = o;
  linear.set("stem_activation", false);
  EXPECT_THROW(create("dinat_nano", linear), ConfigError);
  config::Node negative = o;
  negative.set("stem_width", -1);
  EXPECT_THROW(create("dinat_nano", negative), ConfigError);
  // DiNAT_s tokenizes with Swin's patch embedding, which has no hidden convs.
  config::Node swin_layout = config::Node::dict();
  swin_layout.set("stem_width", 24);
  EXPECT_THROW(create("dinat_s_tiny", swin_layout), ConfigError);
}

// mlp_dwconv (ours): the layer's MLP becomes the convolutional feed-forward, fc1 -> GELU ->
// h + GELU(depthwise conv of h on the token map) -> fc2, written out here on a map that is not
// square (a transposed map would differ).
TEST(NatModels, MlpDwconvRunsADepthwiseConvOnTheTokenMap) {
  torch::manual_seed(6);
  NATLayerOptions o = small_layer(32, 2);
  o.mlp_dwconv = 3;
  NATLayer layer(o);
  auto params = layer->named_parameters();
  ASSERT_TRUE(params.contains("mlp.dwconv.depthwise_conv.0.weight"));
  EXPECT_EQ(params["mlp.dwconv.depthwise_conv.0.weight"].sizes(),
            (std::vector<int64_t>{64, 1, 3, 3}));
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({2, 5, 7, 32});
  const at::Tensor y = x + layer->attn(layer->norm1(x));
  const at::Tensor z = layer->norm2(y);
  const at::Tensor h = at::gelu(at::linear(z, params["mlp.fc1.weight"], params["mlp.fc1.bias"]));
  const at::Tensor local = at::gelu(depthwise_reference(
      h, params["mlp.dwconv.depthwise_conv.0.weight"], params["mlp.dwconv.depthwise_conv.0.bias"]));
  const at::Tensor expected =
      y + at::linear(h + local, params["mlp.fc2.weight"], params["mlp.fc2.bias"]);
  const at::Tensor out = layer->forward(x);
  EXPECT_TRUE(at::allclose(out, expected, 1e-5, 1e-5)) << (out - expected).abs().max();
  // In a model: counted in parameters and FLOPs; even kernels refused.
  config::Node options = config::Node::dict();
  options.set("mlp_dwconv", 3);
  auto model = std::dynamic_pointer_cast<NAT>(create("dinat_nano", options));
  ASSERT_TRUE(model);
  EXPECT_EQ(count_parameters(*model), nat_parameter_count(model->config()));
  auto plain = std::dynamic_pointer_cast<NAT>(create("dinat_nano"));
  EXPECT_GT(model->flops(28), plain->flops(28));
  options.set("mlp_dwconv", 4);
  EXPECT_THROW(create("dinat_nano", options), ConfigError);
  // ConvFFN has no dropout: a drop_rate it would ignore is refused.
  options.set("mlp_dwconv", 3);
  options.set("drop_rate", 0.1);
  EXPECT_THROW(create("dinat_nano", options), ConfigError);
}

// cpe (ours): x + depthwise conv of x before the attention branch (a conditional position
// encoding), written out with torch's grouped conv on a map that is not square.
TEST(NatModels, CpeAddsADepthwiseConvBeforeTheAttention) {
  torch::manual_seed(7);
  NATLayerOptions o = small_layer(16, 1);
  o.cpe = 3;
  NATLayer layer(o);
  auto params = layer->named_parameters();
  ASSERT_TRUE(params.contains("cpe.weight"));
  EXPECT_EQ(params["cpe.weight"].sizes(), (std::vector<int64_t>{16, 1, 3, 3}));
  torch::NoGradGuard no_grad;
  const at::Tensor input = torch::randn({2, 4, 6, 16});
  const at::Tensor x = input + depthwise_reference(input, params["cpe.weight"], params["cpe.bias"]);
  const at::Tensor y = x + layer->attn(layer->norm1(x));
  const at::Tensor expected = y + layer->mlp(layer->norm2(y));
  const at::Tensor out = layer->forward(input);
  EXPECT_TRUE(at::allclose(out, expected, 1e-5, 1e-5)) << (out - expected).abs().max();
  config::Node options = config::Node::dict();
  options.set("cpe", 3);
  auto model = std::dynamic_pointer_cast<NAT>(create("dinat_nano", options));
  ASSERT_TRUE(model);
  EXPECT_EQ(count_parameters(*model), nat_parameter_count(model->config()));
  options.set("cpe", 2);
  EXPECT_THROW(create("dinat_nano", options), ConfigError);
}

TEST(NatModels, PyramidShapesAndLogits) {
  torch::manual_seed(0);
  for (const char* name : {"nat_mini", "dinat_s_tiny"}) {
    config::Node o = config::Node::dict();
    o.set("num_classes", 7);
    ModelPtr model = create(name, o);
    model->eval();
    torch::NoGradGuard no_grad;
    const at::Tensor images = torch::randn({2, 3, 64, 64});
    const std::vector<at::Tensor> levels = model->forward_features(images);
    ASSERT_EQ(levels.size(), 4u) << name;
    const std::vector<int64_t> channels = model->feature_channels();
    for (size_t i = 0; i < 4; ++i) {
      const int64_t side = 64 / (4 << i);
      EXPECT_EQ(levels[i].sizes(), (std::vector<int64_t>{2, channels[i], side, side})) << name;
      EXPECT_EQ(channels[i], channels[0] << i);
    }
    const at::Tensor logits = model->forward(images);
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 7}));
    EXPECT_TRUE(torch::allclose(logits, model->forward_head(levels.back()), 1e-5, 1e-5)) << name;
  }
}

TEST(NatModels, OddSidesAndSmallInputs) {
  ModelPtr model = create("dinat_nano");
  model->eval();
  torch::NoGradGuard no_grad;
  // 28x28 -> 7x7 (dilation 2 needs 6), 4x4, 2x2 (padded up to the 3x3 window).
  const std::vector<at::Tensor> levels = model->forward_features(torch::randn({3, 1, 28, 28}));
  ASSERT_EQ(levels.size(), 3u);
  EXPECT_EQ(levels[0].sizes(), (std::vector<int64_t>{3, 32, 7, 7}));
  EXPECT_EQ(levels[1].sizes(), (std::vector<int64_t>{3, 64, 4, 4}));
  EXPECT_EQ(levels[2].sizes(), (std::vector<int64_t>{3, 128, 2, 2}));
  EXPECT_EQ(model->forward(torch::randn({3, 1, 32, 32})).sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_THROW(model->forward(torch::randn({3, 3, 28, 28})), c10::Error);
}

TEST(NatModels, DinatDilationScheduleFollowsThePaper) {
  const std::vector<int64_t> depths{3, 4, 18, 5};
  auto at224 = dinat_dilations(depths, 224, 7);
  EXPECT_EQ(at224[0], (std::vector<int64_t>{1, 8, 1}));
  EXPECT_EQ(at224[1], (std::vector<int64_t>{1, 4, 1, 4}));
  EXPECT_EQ(at224[2].size(), 18u);
  for (size_t j = 0; j < 18; ++j) EXPECT_EQ(at224[2][j], j % 2 ? 2 : 1);
  EXPECT_EQ(at224[3], (std::vector<int64_t>(5, 1)));
  auto at384 = dinat_dilations(depths, 384, 7);
  EXPECT_EQ(at384[0], (std::vector<int64_t>{1, 13, 1}));
  EXPECT_EQ(at384[1], (std::vector<int64_t>{1, 6, 1, 6}));
  EXPECT_EQ(at384[2][1], 3);
  // The registered variant uses the official lists, equal to the rule at 224.
  auto tiny = std::dynamic_pointer_cast<NAT>(create("dinat_tiny"));
  EXPECT_EQ(tiny->config().dilations, at224);
}

TEST(NatModels, ConfigErrorsNameTheProblem) {
  auto expect_error = [](config::Node o, const std::string& fragment) {
    try {
      create("dinat_tiny", std::move(o));
      FAIL() << "expected a ConfigError mentioning " << fragment;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  config::Node even = config::Node::dict();
  even.set("kernel_size", 6);
  expect_error(even, "kernel_size must be odd");
  config::Node short_list = config::Node::dict();
  config::Node levels = config::Node::list();
  levels.as_list().push_back(config::Node::list());
  short_list.set("dilations", levels);
  expect_error(short_list, "dilations has 1 levels but depths has 4");
  config::Node unknown = config::Node::dict();
  unknown.set("kernal_size", 7);
  expect_error(unknown, "kernal_size");
  // An image size derives DiNAT's schedule.
  config::Node by_size = config::Node::dict();
  by_size.set("dilations", 384);
  auto model = std::dynamic_pointer_cast<NAT>(create("dinat_tiny", by_size));
  EXPECT_EQ(model->config().dilations[0], (std::vector<int64_t>{1, 13, 1}));
}

TEST(NatModels, DropPathIsIdentityInEvalAndDropsWholeSamplesInTraining) {
  layers::DropPath drop(0.5);
  const at::Tensor x = torch::ones({64, 3, 5});
  drop->eval();
  EXPECT_TRUE(torch::equal(drop(x), x));
  drop->train();
  torch::manual_seed(1);
  const at::Tensor y = drop(x);
  const at::Tensor per_sample = y.flatten(1);
  int dropped = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const at::Tensor row = per_sample[i];
    const bool zero = torch::equal(row, torch::zeros_like(row));
    const bool kept = torch::allclose(row, torch::full_like(row, 2.0));  // scaled by 1/keep
    EXPECT_TRUE(zero || kept);
    dropped += zero;
  }
  EXPECT_GT(dropped, 10);
  EXPECT_LT(dropped, 54);

  config::Node o = config::Node::dict();
  o.set("drop_path_rate", 0.5);
  ModelPtr model = create("dinat_nano", o);
  const at::Tensor images = torch::randn({4, 1, 28, 28});
  model->eval();
  EXPECT_TRUE(torch::equal(model->forward(images), model->forward(images)));
  model->train();
  EXPECT_FALSE(torch::allclose(model->forward(images), model->forward(images)));
}

TEST(NatModels, FlopsMatchThePapersToTheirRounding) {
  // Truncation or rounding of our count gives the printed number, except DiNAT-L (30.53
  // here, 30.6 printed), see the registry note.
  for (const ModelEntry& e : ModelRegistry::builtin().entries()) {
    if (e.paper.gflops <= 0 || e.name == "dinat_large") continue;
    const double ours = e.count_flops(e.img_size) / 1e9;
    EXPECT_LT(std::abs(ours - e.paper.gflops), 0.08) << e.name << ": " << ours;
  }
}

}  // namespace
}  // namespace vitrine::models
