// torchvision's ResNets: exact parameter counts (torchvision's documented numbers), names,
// the layer1-4 pyramid, FLOPs against torchvision's table.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "config/view.h"
#include "models/backbones/resnet.h"
#include "models/registry.h"

namespace vitrine::models {
namespace {

ModelPtr create(const std::string& name, config::Node overrides = config::Node::dict()) {
  return ModelRegistry::builtin().get(name).create(config::ConfigView(overrides, "model"));
}

TEST(ResNet, TorchvisionParameterCountsAndFlops) {
  const std::vector<std::pair<const char*, int64_t>> counts{{"resnet18", 11689512},
                                                            {"resnet34", 21797672},
                                                            {"resnet50", 25557032},
                                                            {"resnet101", 44549160},
                                                            {"resnet152", 60192808}};
  for (const auto& [name, params] : counts) {
    SCOPED_TRACE(name);
    ModelPtr model = create(name);
    EXPECT_EQ(count_parameters(*model), params);
    // torchvision lists GFLOPS as multiply-adds of convs and the fc at 224.
    EXPECT_NEAR(model->flops(224) / 1e9, ModelRegistry::builtin().get(name).paper.gflops, 0.01);
  }
}

TEST(ResNet, NamesAndPyramid) {
  ModelPtr model = create("resnet50");
  const auto params = model->named_parameters();
  for (const char* name :
       {"conv1.weight", "bn1.weight", "layer1.0.conv3.weight", "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.bias", "layer4.2.bn3.weight", "fc.weight"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_TRUE(model->named_buffers().contains("layer2.1.bn2.running_var"));
  EXPECT_FALSE(params.contains("layer1.1.downsample.0.weight"));
  model->eval();
  torch::NoGradGuard no_grad;
  const auto pyramid = model->forward_features(at::randn({1, 3, 64, 64}));
  ASSERT_EQ(pyramid.size(), 4u);
  const std::vector<int64_t> channels{256, 512, 1024, 2048}, sides{16, 8, 4, 2};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(pyramid[i].size(1), channels[i]);
    EXPECT_EQ(pyramid[i].size(2), sides[i]);
  }
  EXPECT_EQ(model->feature_channels(), channels);
}

}  // namespace
}  // namespace vitrine::models
