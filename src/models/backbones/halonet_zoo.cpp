// The HaloNet variants of timm (models/byoanet.py) on ByobNet, with the parameter counts and
// ImageNet-1k top-1 timm reports for its weights (at the listed resolution).
#include <utility>

#include "config/view.h"
#include "models/backbones/byobnet.h"

namespace vitrine::models {
namespace {

ByoBlockCfg block(const char* type, int64_t c, int64_t s, int64_t gs, double br) {
  ByoBlockCfg b;
  b.type = type;
  b.c = c;
  b.s = s;
  b.gs = gs;
  b.br = br;
  return b;
}

HaloSettings halo(int64_t block_size, int64_t halo_size, int64_t num_heads = 8,
                  double qk_ratio = 1.0) {
  HaloSettings h;
  h.block_size = block_size;
  h.halo_size = halo_size;
  h.num_heads = num_heads;
  h.qk_ratio = qk_ratio;
  return h;
}

ByoModelCfg apply_overrides(ByoModelCfg c, const config::ConfigView& view) {
  view.expect_keys({"name", "pretrained", "pretrained_strict", "num_classes", "in_chans",
                    "drop_path_rate", "drop_rate"});
  c.num_classes = view.get_int("num_classes", c.num_classes);
  c.in_chans = view.get_int("in_chans", c.in_chans);
  c.drop_path_rate = view.get_float("drop_path_rate", c.drop_path_rate);
  c.drop_rate = view.get_float("drop_rate", c.drop_rate);
  return c;
}

void add(ModelRegistry& registry, const char* name, int64_t img_size, ByoModelCfg cfg,
         PaperNumbers paper) {
  ModelEntry e;
  e.name = name;
  e.family = "HaloNet";
  e.img_size = img_size;
  e.in_chans = cfg.in_chans;
  e.num_classes = cfg.num_classes;
  e.paper = paper;
  e.create = [cfg](const config::ConfigView& view) -> ModelPtr {
    return std::make_shared<ByobNet>(apply_overrides(cfg, view));
  };
  registry.add(std::move(e));
}

}  // namespace

void register_halonet_family(ModelRegistry& r) {
  const char* B = "bottle";
  const char* A = "self_attn";
  {  // HaloNet-H1 as timm builds it: halo attention in every stage.
    ByoModelCfg c;
    c.stages = {repeat_block(3, block(A, 64, 1, 0, 1.0)), repeat_block(3, block(A, 128, 2, 0, 1.0)),
                repeat_block(10, block(A, 256, 2, 0, 1.0)),
                repeat_block(3, block(A, 512, 2, 0, 1.0))};
    c.stem_chs = 64;
    c.stem_type = "7x7";
    c.self_attn = halo(8, 3);
    add(r, "halonet_h1", 256, c, {8.10, 0, 0});
  }
  {  // ResNet26-T with halo attention in the last two stages.
    ByoModelCfg c;
    c.stages = {repeat_block(2, block(B, 256, 1, 0, 0.25)),
                repeat_block(2, block(B, 512, 2, 0, 0.25)),
                interleave_blocks(B, A, 2, 1, block(B, 1024, 2, 0, 0.25)),
                repeat_block(2, block(A, 2048, 2, 0, 0.25))};
    c.stem_chs = 64;
    c.stem_type = "tiered";
    c.self_attn = halo(8, 2);
    add(r, "halonet26t", 256, c, {12.48, 0, 79.13});
  }
  {  // ResNet33-T, SiLU, SE in the bottlenecks, 1-2 halo blocks in stages 2-4.
    ByoModelCfg c;
    c.stages = {repeat_block(2, block(B, 256, 1, 0, 0.25)),
                interleave_blocks(B, A, 3, std::vector<int64_t>{2}, block(B, 512, 2, 0, 0.25)),
                interleave_blocks(B, A, 3, std::vector<int64_t>{2}, block(B, 1024, 2, 0, 0.25)),
                repeat_block(2, block(A, 1536, 2, 0, 0.333))};
    c.stem_chs = 64;
    c.stem_type = "tiered";
    c.stem_pool = "";
    c.act = "silu";
    c.num_features = 1280;
    c.attn_layer = "se";
    c.self_attn = halo(8, 3);
    add(r, "sehalonet33ts", 256, c, {13.69, 0, 80.98});
  }
  {  // ResNet50-T, SiLU, halo attention in the last three stages (4 heads in stage 2).
    ByoModelCfg c;
    ByoBlockCfg stage2 = block(B, 512, 2, 0, 0.25);
    stage2.self_attn = halo(8, 3, 4);
    c.stages = {repeat_block(3, block(B, 256, 1, 0, 0.25)), interleave_blocks(B, A, 4, 4, stage2),
                interleave_blocks(B, A, 6, 1, block(B, 1024, 2, 0, 0.25)),
                interleave_blocks(B, A, 3, 1, block(B, 2048, 2, 0, 0.25))};
    c.stem_chs = 64;
    c.stem_type = "tiered";
    c.act = "silu";
    c.self_attn = halo(8, 3);
    add(r, "halonet50ts", 256, c, {22.73, 0, 81.64});
  }
  {  // ResNeXt26-T (groups of 16), SiLU, ECA, halo attention with 16-wide heads.
    ByoModelCfg c;
    c.stages = {repeat_block(2, block(B, 256, 1, 16, 0.25)),
                repeat_block(2, block(B, 512, 2, 16, 0.25)),
                interleave_blocks(B, A, 2, 1, block(B, 1024, 2, 16, 0.25)),
                repeat_block(2, block(A, 2048, 2, 16, 0.25))};
    c.stem_chs = 64;
    c.stem_type = "tiered";
    c.act = "silu";
    c.attn_layer = "eca";
    c.self_attn = halo(8, 2);
    c.self_attn.dim_head = 16;
    add(r, "eca_halonext26ts", 256, c, {10.76, 0, 79.52});
  }
  {  // RegNetZ-B-like: inverted bottlenecks (width from the input), no downsample shortcut,
     // SE 1/4, linear block outputs, halo attention with block 7 and qk_ratio 0.33.
    ByoModelCfg c;
    c.stages = {repeat_block(2, block(B, 48, 2, 16, 3)), repeat_block(6, block(B, 96, 2, 16, 3)),
                interleave_blocks(B, A, 12, 3, block(B, 192, 2, 16, 3)),
                repeat_block(2, block(A, 288, 2, 16, 3))};
    c.stem_chs = 32;
    c.stem_pool = "";
    c.downsample = "";
    c.num_features = 1536;
    c.act = "silu";
    c.attn_layer = "se";
    c.se_rd_ratio = 0.25;
    c.bottle_in = true;
    c.linear_out = true;
    c.self_attn = halo(7, 2, 8, 0.33);
    add(r, "haloregnetz_b", 224, c, {11.68, 0, 81.06});
  }
  {  // Ours: a small HaloNet for 28x28 grey images (Fashion-MNIST): 3x3 stem to 14x14, a
     // bottleneck, then halo attention with 7x7 blocks (stride 2 by pooling, as 7 is odd)
     // at 14x14 and 7x7.
    ByoModelCfg c;
    c.stages = {repeat_block(1, block(B, 64, 1, 0, 0.5)), repeat_block(2, block(A, 128, 2, 0, 0.5)),
                repeat_block(1, block(A, 256, 1, 0, 0.5))};
    c.stem_chs = 32;
    c.stem_pool = "";
    c.act = "silu";
    c.self_attn = halo(7, 2, 4);
    c.in_chans = 1;
    c.num_classes = 10;
    add(r, "halonet_nano", 28, c, {0, 0, 0});
  }
}

}  // namespace vitrine::models
