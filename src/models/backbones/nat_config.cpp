#include "models/backbones/nat_config.h"

#include "core/error.h"
#include "models/model_options.h"

namespace vitrine::models {

void NATConfig::validate(const std::string& where) const {
  auto fail = [&](const std::string& what) { throw ConfigError(where + ": " + what); };
  if (embed_dim <= 0) fail("embed_dim must be positive, got " + std::to_string(embed_dim));
  if (depths.empty()) fail("depths must list at least one level");
  if (num_heads.size() != depths.size())
    fail("num_heads has " + std::to_string(num_heads.size()) + " entries but depths has " +
         std::to_string(depths.size()));
  if (stem_stride != 4 && (stem_stride != 2 || layout != NATLayout::kNAT))
    fail("stem_stride must be 4, or 2 with NAT's conv tokenizer, got " +
         std::to_string(stem_stride));
  if (stem_width < 0)
    fail("stem_width must be >= 0 (0: embed_dim / 2), got " + std::to_string(stem_width));
  if (stem_convs < 0) fail("stem_convs must be >= 0, got " + std::to_string(stem_convs));
  if ((stem_convs > 0 || stem_width > 0) && layout != NATLayout::kNAT)
    fail("stem_width and stem_convs need NAT's conv tokenizer");
  if (stem_convs > 0 && !stem_activation)
    fail(
        "stem_convs needs stem_activation: true (without activations the convs are one linear "
        "map)");
  auto odd_kernel_or_off = [&](const char* key, int64_t k) {
    if (k < 0 || (k > 0 && k % 2 == 0))
      fail(std::string(key) + " must be 0 (off) or an odd kernel size, got " + std::to_string(k));
  };
  odd_kernel_or_off("mlp_dwconv", mlp_dwconv);
  odd_kernel_or_off("cpe", cpe);
  if (mlp_dwconv > 0 && drop_rate > 0) fail("mlp_dwconv has no dropout (drop_rate must be 0)");
  if (kernel_size < 1 || kernel_size % 2 == 0)
    fail("kernel_size must be odd and positive, got " + std::to_string(kernel_size));
  if (mlp_ratio <= 0) fail("mlp_ratio must be positive");
  if (drop_path_rate < 0 || drop_path_rate >= 1) fail("drop_path_rate must be in [0, 1)");
  if (in_chans <= 0) fail("in_chans must be positive");
  if (num_classes < 0) fail("num_classes must be >= 0");
  if (!dilations.empty() && dilations.size() != depths.size())
    fail("dilations has " + std::to_string(dilations.size()) + " levels but depths has " +
         std::to_string(depths.size()));
  for (size_t i = 0; i < depths.size(); ++i) {
    const std::string level = "level " + std::to_string(i);
    if (depths[i] < 1) fail(level + " depth must be >= 1");
    const int64_t dim = embed_dim << i;
    if (num_heads[i] < 1 || dim % num_heads[i] != 0)
      fail(level + ": " + std::to_string(num_heads[i]) + " heads do not divide " +
           std::to_string(dim) + " channels");
    if (dilations.empty()) continue;
    if (static_cast<int64_t>(dilations[i].size()) != depths[i])
      fail(level + " has " + std::to_string(depths[i]) + " layers but " +
           std::to_string(dilations[i].size()) + " dilations");
    for (int64_t d : dilations[i])
      if (d < 1) fail(level + ": dilation must be >= 1, got " + std::to_string(d));
  }
}

std::vector<std::vector<int64_t>> dinat_dilations(const std::vector<int64_t>& depths,
                                                  int64_t img_size, int64_t kernel_size) {
  if (img_size < 1 || kernel_size < 1)
    throw ConfigError("dinat_dilations: img_size and kernel_size must be positive");
  std::vector<std::vector<int64_t>> out;
  int64_t side = (img_size + 3) / 4;  // the stride-4 tokenizer's output side
  for (int64_t depth : depths) {
    const int64_t widest = std::max<int64_t>(1, side / kernel_size);
    std::vector<int64_t> level;
    for (int64_t j = 0; j < depth; ++j) level.push_back(j % 2 == 0 ? 1 : widest);
    out.push_back(std::move(level));
    side = halve_side(side);
  }
  return out;
}

namespace {

// model.dilations: a list per level, an image size to derive DiNAT's schedule for (after
// depths and kernel_size are read), or null for none.
void read_dilations(NATConfig& c, const config::ConfigView& view, const std::string& name) {
  const config::Node& node = *view.node().find(name);
  const std::string key = view.path() + "." + name;
  if (node.is_int()) {
    c.dilations = dinat_dilations(c.depths, node.as_int(), c.kernel_size);
  } else if (node.is_null()) {
    c.dilations.clear();
  } else if (node.is_list()) {
    c.dilations.clear();
    for (const config::Node& level : node.as_list()) {
      if (!level.is_list())
        throw ConfigError(key + " must be a list of lists of ints (one list per level)");
      std::vector<int64_t> values;
      for (const config::Node& d : level.as_list()) {
        if (!d.is_int()) throw ConfigError(key + " entries must be ints, got " + d.to_string());
        values.push_back(d.as_int());
      }
      c.dilations.push_back(std::move(values));
    }
  } else {
    throw ConfigError(key + " must be a list of lists, an image size, or null; got " +
                      node.to_string());
  }
}

}  // namespace

NATConfig apply_overrides(NATConfig c, const config::ConfigView& view) {
  // Architecture keys (timm's create_model kwargs): a changed depth list needs dilations to
  // match, which validate() reports. Read in this order: dilations last.
  static const auto table = regularised_classifier_options<NATConfig>()
                                .field("embed_dim", &NATConfig::embed_dim)
                                .field("depths", &NATConfig::depths)
                                .field("num_heads", &NATConfig::num_heads)
                                .field("mlp_ratio", &NATConfig::mlp_ratio)
                                .field("stem_stride", &NATConfig::stem_stride)
                                .field("stem_activation", &NATConfig::stem_activation)
                                .field("stem_width", &NATConfig::stem_width)
                                .field("stem_convs", &NATConfig::stem_convs)
                                .field("mlp_dwconv", &NATConfig::mlp_dwconv)
                                .field("cpe", &NATConfig::cpe)
                                .field("layer_scale", &NATConfig::layer_scale)
                                .field("out_norms", &NATConfig::out_norms)
                                .field("kernel_size", &NATConfig::kernel_size)
                                .custom("dilations", read_dilations);
  return table.apply(view, c);
}

}  // namespace vitrine::models
