// The NAT / DiNAT / DiNAT_s variants of the official repository, with the numbers its
// papers report (params, GFLOPs at the variant's resolution, ImageNet-1k top-1).
#include <utility>

#include "models/backbones/nat.h"
#include "models/backbones/nat_complexity.h"

namespace vitrine::models {
namespace {

std::vector<int64_t> repeat(std::initializer_list<int64_t> pattern, int64_t count) {
  std::vector<int64_t> out;
  while (static_cast<int64_t>(out.size()) < count)
    for (int64_t v : pattern)
      if (static_cast<int64_t>(out.size()) < count) out.push_back(v);
  return out;
}

NATConfig nat(int64_t embed, std::vector<int64_t> depths, std::vector<int64_t> heads, double mlp,
              double drop_path, double layer_scale) {
  NATConfig c;
  c.embed_dim = embed;
  c.depths = std::move(depths);
  c.num_heads = std::move(heads);
  c.mlp_ratio = mlp;
  c.drop_path_rate = drop_path;
  c.layer_scale = layer_scale;
  return c;
}

// DiNAT's 224 schedule as the official configs list it (level 3 alternates 1, 2).
NATConfig dilated(NATConfig c, std::vector<std::vector<int64_t>> dilations) {
  c.dilations = std::move(dilations);
  return c;
}

std::vector<std::vector<int64_t>> dinat_224(int64_t level3) {
  return {{1, 8, 1}, {1, 4, 1, 4}, repeat({1, 2}, level3), {1, 1, 1, 1, 1}};
}
std::vector<std::vector<int64_t>> dinat_384(int64_t level3) {
  return {{1, 13, 1}, {1, 6, 1, 6}, repeat({1, 3}, level3), {1, 1, 1, 1, 1}};
}

NATConfig dinat_s(int64_t embed, std::vector<int64_t> depths, std::vector<int64_t> heads,
                  double drop_path, std::initializer_list<int64_t> widest) {
  NATConfig c = nat(embed, std::move(depths), std::move(heads), 4.0, drop_path, 0);
  c.layout = NATLayout::kDiNATs;
  auto it = widest.begin();
  for (int64_t depth : c.depths) c.dilations.push_back(repeat({1, *it++}, depth));
  return c;
}

void add(ModelRegistry& registry, const char* name, const char* family, int64_t img_size,
         NATConfig base, PaperNumbers paper) {
  ModelEntry e;
  e.name = name;
  e.family = family;
  e.img_size = img_size;
  e.in_chans = base.in_chans;
  e.num_classes = base.num_classes;
  e.paper = paper;
  e.create = [base](const config::ConfigView& view) -> ModelPtr {
    return std::make_shared<NAT>(apply_overrides(base, view));
  };
  e.count_parameters = [base] { return nat_parameter_count(base); };
  e.count_flops = [base](int64_t img) { return nat_flops(base, img); };
  registry.add(std::move(e));
}

}  // namespace

void register_nat_family(ModelRegistry& r) {
  add(r, "nat_mini", "NAT", 224, nat(64, {3, 4, 6, 5}, {2, 4, 8, 16}, 3, 0.2, 0), {20, 2.7, 81.8});
  add(r, "nat_tiny", "NAT", 224, nat(64, {3, 4, 18, 5}, {2, 4, 8, 16}, 3, 0.2, 0), {28, 4.3, 83.2});
  add(r, "nat_small", "NAT", 224, nat(96, {3, 4, 18, 5}, {3, 6, 12, 24}, 2, 0.3, 1e-5),
      {51, 7.8, 83.7});
  add(r, "nat_base", "NAT", 224, nat(128, {3, 4, 18, 5}, {4, 8, 16, 32}, 2, 0.5, 1e-5),
      {90, 13.7, 84.3});

  add(r, "dinat_mini", "DiNAT", 224,
      dilated(nat(64, {3, 4, 6, 5}, {2, 4, 8, 16}, 3, 0.2, 0), dinat_224(6)), {20, 2.7, 81.8});
  add(r, "dinat_tiny", "DiNAT", 224,
      dilated(nat(64, {3, 4, 18, 5}, {2, 4, 8, 16}, 3, 0.2, 0), dinat_224(18)), {28, 4.3, 82.7});
  add(r, "dinat_small", "DiNAT", 224,
      dilated(nat(96, {3, 4, 18, 5}, {3, 6, 12, 24}, 2, 0.3, 0), dinat_224(18)), {51, 7.8, 83.8});
  add(r, "dinat_base", "DiNAT", 224,
      dilated(nat(128, {3, 4, 18, 5}, {4, 8, 16, 32}, 2, 0.5, 1e-5), dinat_224(18)),
      {90, 13.7, 84.4});
  add(r, "dinat_large", "DiNAT", 224,
      dilated(nat(192, {3, 4, 18, 5}, {6, 12, 24, 48}, 2, 0.35, 0), dinat_224(18)),
      {200, 30.6, 86.6});
  add(r, "dinat_large_384", "DiNAT", 384,
      dilated(nat(192, {3, 4, 18, 5}, {6, 12, 24, 48}, 2, 0.35, 0), dinat_384(18)), {200, 0, 87.4});

  add(r, "dinat_s_tiny", "DiNAT_s", 224,
      dinat_s(96, {2, 2, 6, 2}, {3, 6, 12, 24}, 0.2, {8, 4, 2, 1}), {28, 4.5, 81.8});
  add(r, "dinat_s_small", "DiNAT_s", 224,
      dinat_s(96, {2, 2, 18, 2}, {3, 6, 12, 24}, 0.3, {8, 4, 2, 1}), {50, 8.7, 83.5});
  add(r, "dinat_s_base", "DiNAT_s", 224,
      dinat_s(128, {2, 2, 18, 2}, {4, 8, 16, 32}, 0.5, {8, 4, 2, 1}), {88, 15.4, 83.8});
  add(r, "dinat_s_large", "DiNAT_s", 224,
      dinat_s(192, {2, 2, 18, 2}, {6, 12, 24, 48}, 0.35, {8, 4, 2, 1}), {197, 34.5, 86.5});
  add(r, "dinat_s_large_384", "DiNAT_s", 384,
      dinat_s(192, {2, 2, 18, 2}, {6, 12, 24, 48}, 0.35, {13, 6, 3, 1}), {197, 0, 87.4});

  // Ours: a small DiNAT for 28x28 / 32x32 images (Fashion-MNIST, CIFAR), the embedded
  // default's model. Three levels (7x7, 4x4, 2x2 tokens at 28x28), 3x3 windows, the first
  // level dilated; heads of 32 channels (1, 2, 4 heads: ~15% faster than 2, 4, 8 heads of
  // 16 on 2 CPU cores, and no less accurate on Fashion-MNIST).
  NATConfig nano = nat(32, {2, 2, 2}, {1, 2, 4}, 3, 0.0, 0);
  nano.kernel_size = 3;
  nano.dilations = {{1, 2}, {1, 1}, {1, 1}};
  nano.num_classes = 10;
  nano.in_chans = 1;
  add(r, "dinat_nano", "DiNAT", 28, nano, {0, 0, 0});
}

}  // namespace vitrine::models
