// What a deployment needs to run a model exported by `vitrine export`: libtorch (and, for the
// default flavour, libvitrine_ops.so), nothing of Vitrine's own. Loads the TorchScript file,
// prepares one image as the model was trained (resize to the input size, scale to [0, 1],
// normalise), runs forward and prints the top classes with their probabilities.
//
//   vitrine-classify --model model.pt --image cat.jpg [--size 224] [--grey]
//       [--mean 0.485,0.456,0.406] [--std 0.229,0.224,0.225] [--top 5]
//       [--ops /path/to/libvitrine_ops.so]   (files exported without portable=true)
//
// Copy this file into your project; it needs libtorch and OpenCV (imgcodecs, imgproc).
#include <dlfcn.h>
#include <torch/script.h>

#include <cstdio>
#include <cstdlib>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<float> parse_list(const std::string& text) {
  std::vector<float> out;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) out.push_back(std::stof(item));
  return out;
}

int usage() {
  std::fprintf(stderr,
               "usage: vitrine-classify --model FILE --image FILE [--size N] [--grey] "
               "[--mean a,b,c] [--std a,b,c] [--top K] [--ops libvitrine_ops.so]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, image_path, ops;
  int size = 224, top = 5;
  bool grey = false;
  std::vector<float> mean{0.485f, 0.456f, 0.406f}, stdev{0.229f, 0.224f, 0.225f};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--model" && has_value)
      model_path = argv[++i];
    else if (a == "--image" && has_value)
      image_path = argv[++i];
    else if (a == "--ops" && has_value)
      ops = argv[++i];
    else if (a == "--size" && has_value)
      size = std::atoi(argv[++i]);
    else if (a == "--top" && has_value)
      top = std::atoi(argv[++i]);
    else if (a == "--mean" && has_value)
      mean = parse_list(argv[++i]);
    else if (a == "--std" && has_value)
      stdev = parse_list(argv[++i]);
    else if (a == "--grey")
      grey = true;
    else
      return usage();
  }
  if (model_path.empty() || image_path.empty() || size < 1 || top < 1) return usage();
  const size_t channels = grey ? 1 : 3;
  if (mean.size() == 1) mean.assign(channels, mean[0]);
  if (stdev.size() == 1) stdev.assign(channels, stdev[0]);
  if (mean.size() != channels || stdev.size() != channels) {
    std::fprintf(stderr, "error: --mean and --std need %zu values\n", channels);
    return 2;
  }

  // The custom ops register themselves when their library is loaded.
  if (!ops.empty() && !dlopen(ops.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
    std::fprintf(stderr, "error: cannot load %s: %s\n", ops.c_str(), dlerror());
    return 1;
  }
  torch::jit::Module model;
  try {
    model = torch::jit::load(model_path);
  } catch (const std::exception& e) {
    // A file exported with the custom ops names them (ops.vitrine.na2d) and fails to load
    // without their library.
    std::string what = e.what();
    what.erase(0, what.find_first_not_of(" \n"));
    std::fprintf(stderr, "error: cannot load %s%s: %s\n", model_path.c_str(),
                 what.find("vitrine::") != std::string::npos
                     ? " (it uses the vitrine custom ops: pass --ops libvitrine_ops.so, or "
                       "export with portable=true)"
                     : "",
                 what.substr(0, what.find('\n')).c_str());
    return 1;
  }
  model.eval();

  cv::Mat image = cv::imread(image_path, grey ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  if (image.empty()) {
    std::fprintf(stderr, "error: cannot read the image %s\n", image_path.c_str());
    return 1;
  }
  if (!grey) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  cv::resize(image, image, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);
  torch::Tensor input =
      torch::from_blob(image.data, {1, size, size, static_cast<int64_t>(channels)}, torch::kUInt8)
          .permute({0, 3, 1, 2})
          .to(torch::kFloat)
          .div(255.0);
  input =
      (input - torch::tensor(mean).view({1, -1, 1, 1})) / torch::tensor(stdev).view({1, -1, 1, 1});

  torch::NoGradGuard no_grad;
  const c10::IValue output = model.forward({input});
  if (!output.isTensor()) {
    std::fprintf(stderr, "error: the model returns %s, not logits (exported with part=backbone?)\n",
                 output.tagKind().c_str());
    return 1;
  }
  const torch::Tensor logits = output.toTensor();
  if (logits.dim() != 2) {
    std::fprintf(stderr, "error: expected [1, classes] logits, got %lld dimensions\n",
                 static_cast<long long>(logits.dim()));
    return 1;
  }
  const torch::Tensor probabilities = torch::softmax(logits[0], 0);
  const auto best = probabilities.topk(std::min<int64_t>(top, probabilities.size(0)));
  for (int64_t i = 0; i < std::get<0>(best).size(0); ++i)
    std::printf("class %lld: %.6f\n", static_cast<long long>(std::get<1>(best)[i].item<int64_t>()),
                std::get<0>(best)[i].item<double>());
  return 0;
}
