// Classification evaluation: flip test-time augmentation averages the logits of each image and
// its mirror image (checked against an explicit column reversal); a data config asking for an
// unknown test-time augmentation is refused by name.
#include "train/classification_task.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "config/embedded.h"
#include "config/yaml_io.h"
#include "core/error.h"
#include "support/yaml_view.h"

namespace vitrine::train {
namespace {

using testing::yaml_view;

TEST(ClassificationLogits, FlipTtaAveragesEachImageWithItsMirrorImage) {
  at::manual_seed(0);
  const at::Tensor weight = at::randn({3, 2 * 5 * 7});  // a linear classifier on the pixels
  int calls = 0;
  const ModelForward linear = [&](const at::Tensor& x) {
    ++calls;
    return at::matmul(x.reshape({x.size(0), -1}), weight.t());
  };
  const at::Tensor images = at::randn({4, 2, 5, 7});
  // Mirror by gathering columns 6..0, not by flip().
  const at::Tensor mirrored = images.index_select(3, at::arange(6, -1, -1, at::kLong));
  const at::Tensor expected = (linear(images) + linear(mirrored)) / 2;
  calls = 0;
  EXPECT_TRUE(at::allclose(classification_logits(linear, images, true), expected, 1e-5, 1e-6));
  EXPECT_EQ(calls, 2);
  calls = 0;
  EXPECT_TRUE(at::equal(classification_logits(linear, images, false), linear(images)));
  EXPECT_EQ(calls, 2);  // one for the call under test, one for the reference
  // A classifier that sees no difference between an image and its mirror image.
  const at::Tensor symmetric = images + mirrored;
  EXPECT_TRUE(
      at::allclose(classification_logits(linear, symmetric, true), linear(symmetric), 1e-5, 1e-5));
  EXPECT_FALSE(
      at::allclose(classification_logits(linear, images, true), linear(images), 1e-3, 1e-3));
}

TEST(ClassificationTask, UnknownTestTimeAugmentationIsRefusedByName) {
  const config::ConfigView task = yaml_view("{label_smoothing: 0.1, topk: [1]}", "task");
  // The embedded Fashion-MNIST data config (no Mixup/CutMix), with data.tta replaced.
  const std::string fashion = config::embedded_config_files().at("data/fashion_mnist.yaml");
  const auto data = [&](const std::string& tta) {
    std::string text = fashion.substr(0, fashion.find("\ntta:")) + "\n" +
                       fashion.substr(fashion.find('\n', fashion.find("\ntta:") + 1) + 1);
    if (!tta.empty()) text += "tta: " + tta + "\n";
    return yaml_view(text, "data");
  };
  for (const char* tta : {"", "none", "hflip"})
    EXPECT_NO_THROW(ClassificationTask(task, data(tta), 10));
  try {
    ClassificationTask(task, data("vflip"), 10);
    ADD_FAILURE() << "tta: vflip was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("data.tta"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("vflip"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vitrine::train
