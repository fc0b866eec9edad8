#include "models/heads/retina_head.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/container/modulelist.h>

#include <cmath>

namespace vitrine::models {
namespace {

torch::nn::Conv2d conv3x3(int64_t in, int64_t out) {
  torch::nn::Conv2d c(torch::nn::Conv2dOptions(in, out, 3).padding(1));
  torch::NoGradGuard no_grad;
  c->weight.normal_(0, 0.01);
  c->bias.zero_();
  return c;
}

}  // namespace

RetinaHeadImpl::RetinaHeadImpl(RetinaHeadOptions o) : options_(o) {
  TORCH_CHECK(o.num_classes > 0 && o.anchors_per_cell > 0 && o.stacked_convs >= 0,
              "RetinaHead: num_classes and anchors must be positive");
  auto cls_list = register_module("cls_convs", torch::nn::ModuleList());
  auto reg_list = register_module("reg_convs", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.stacked_convs; ++i) {
    const int64_t in = i == 0 ? o.in_channels : o.feat_channels;
    for (auto [list, convs] :
         {std::make_pair(cls_list, &cls_convs), std::make_pair(reg_list, &reg_convs)}) {
      auto holder = std::make_shared<torch::nn::Module>();  // mmcv ConvModule: `.conv`
      convs->push_back(holder->register_module("conv", conv3x3(in, o.feat_channels)));
      list->push_back(holder);
    }
  }
  const int64_t feat = o.stacked_convs > 0 ? o.feat_channels : o.in_channels;
  retina_cls = register_module("retina_cls", conv3x3(feat, o.anchors_per_cell * o.num_classes));
  retina_reg = register_module("retina_reg", conv3x3(feat, o.anchors_per_cell * 4));
  torch::NoGradGuard no_grad;
  retina_cls->bias.fill_(-std::log((1 - o.prior_prob) / o.prior_prob));
}

RetinaOutputs RetinaHeadImpl::forward(const std::vector<at::Tensor>& levels) {
  RetinaOutputs out;
  for (const at::Tensor& x : levels) {
    TORCH_CHECK(x.dim() == 4 && x.size(1) == options_.in_channels, "RetinaHead: expected [B, ",
                options_.in_channels, ", H, W] levels, got ", x.sizes());
    at::Tensor c = x, r = x;
    for (size_t i = 0; i < cls_convs.size(); ++i) {
      c = at::relu(cls_convs[i]->forward(c));
      r = at::relu(reg_convs[i]->forward(r));
    }
    out.cls.push_back(retina_cls->forward(c));
    out.reg.push_back(retina_reg->forward(r));
  }
  return out;
}

}  // namespace vitrine::models
