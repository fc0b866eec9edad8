#!/usr/bin/python3
"""Writes tests/fixtures/checkpoints/nat_reference_{nat,dinats}.pth: a small NAT-layout and a
small DiNAT_s-layout model written in PyTorch with the official module structure and names
(SHI-Labs/Neighborhood-Attention-Transformer, classification/nat.py and dinats.py), with
neighborhood attention in plain torch (windows shifted inward at borders, dilation groups,
relative positional bias as NATTEN indexes it). Each file holds the state dict, an input
batch and the reference logits; tests/models/checkpoint_test.cpp loads the state dict into the C++
model and compares logits, which checks the two implementations against each other.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def axis_tables(length, kernel, dilation):
    """Per query i: key positions and bias indices along one axis."""
    keys, bias = [], []
    for i in range(length):
        group, pos = i % dilation, i // dilation
        group_len = (length - group + dilation - 1) // dilation
        start = min(max(pos - kernel // 2, 0), group_len - kernel)
        keys.append([group + dilation * (start + k) for k in range(kernel)])
        bias.append([kernel - 1 + start - pos + k for k in range(kernel)])
    return torch.tensor(keys), torch.tensor(bias)


class NeighborhoodAttention2D(nn.Module):
    def __init__(self, dim, num_heads, kernel_size, dilation=1):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.kernel_size, self.dilation = kernel_size, dilation
        self.qkv = nn.Linear(dim, dim * 3)
        self.rpb = nn.Parameter(torch.randn(num_heads, 2 * kernel_size - 1, 2 * kernel_size - 1) * 0.5)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, Hp, Wp, C = x.shape
        window = self.kernel_size * self.dilation
        H, W = max(Hp, window), max(Wp, window)
        if H != Hp or W != Wp:
            x = F.pad(x, (0, 0, 0, W - Wp, 0, H - Hp))
        qkv = self.qkv(x).reshape(B, H, W, 3, self.num_heads, self.head_dim).permute(3, 0, 4, 1, 2, 5)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]  # [B, h, H, W, d]
        K = self.kernel_size
        kr, br = axis_tables(H, K, self.dilation)
        kc, bc = axis_tables(W, K, self.dilation)
        rows = kr[:, None, :, None].expand(H, W, K, K)
        cols = kc[None, :, None, :].expand(H, W, K, K)
        keys = k[:, :, rows, cols]  # [B, h, H, W, K, K, d]
        values = v[:, :, rows, cols]
        logits = torch.einsum("bhijd,bhijxyd->bhijxy", q, keys)
        logits = logits + self.rpb[:, br[:, None, :, None], bc[None, :, None, :]]
        attn = logits.flatten(-2).softmax(-1).reshape(logits.shape)
        out = torch.einsum("bhijxy,bhijxyd->bhijd", attn, values)
        out = out.permute(0, 2, 3, 1, 4).reshape(B, H, W, C)[:, :Hp, :Wp]
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class NATLayer(nn.Module):
    def __init__(self, dim, heads, kernel, dilation, mlp_ratio, layer_scale):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = NeighborhoodAttention2D(dim, heads, kernel, dilation)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.layer_scale = layer_scale is not None
        if self.layer_scale:
            self.gamma1 = nn.Parameter(torch.rand(dim) + 0.5)
            self.gamma2 = nn.Parameter(torch.rand(dim) + 0.5)

    def forward(self, x):
        if not self.layer_scale:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = x + self.gamma1 * self.attn(self.norm1(x))
        return x + self.gamma2 * self.mlp(self.norm2(x))


class ConvTokenizer(nn.Module):
    def __init__(self, in_chans, dim):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(in_chans, dim // 2, 3, 2, 1), nn.Conv2d(dim // 2, dim, 3, 2, 1))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class ConvDownsampler(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.reduction = nn.Conv2d(dim, 2 * dim, 3, 2, 1, bias=False)
        self.norm = nn.LayerNorm(2 * dim)

    def forward(self, x):
        return self.norm(self.reduction(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


class PatchEmbed(nn.Module):
    def __init__(self, in_chans, dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, 4, 4)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        H, W = x.shape[2:]
        x = F.pad(x, (0, (4 - W % 4) % 4, 0, (4 - H % 4) % 4))
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchMerging(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x):
        B, H, W, C = x.shape
        x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class Level(nn.Module):
    def __init__(self, layers, downsample):
        super().__init__()
        self.blocks = nn.ModuleList(layers)
        self.downsample = downsample

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class Model(nn.Module):
    def __init__(self, swin_layout, in_chans, dim, depths, heads, kernel, dilations, mlp_ratio,
                 layer_scale, num_classes):
        super().__init__()
        self.patch_embed = PatchEmbed(in_chans, dim) if swin_layout else ConvTokenizer(in_chans, dim)
        levels = nn.ModuleList()
        for i, depth in enumerate(depths):
            d = dim * 2 ** i
            layers = [NATLayer(d, heads[i], kernel, dilations[i][j], mlp_ratio, layer_scale)
                      for j in range(depth)]
            down = None
            if i + 1 < len(depths):
                down = PatchMerging(d) if swin_layout else ConvDownsampler(d)
            levels.append(Level(layers, down))
        setattr(self, "layers" if swin_layout else "levels", levels)
        self.stages = levels
        self.norm = nn.LayerNorm(dim * 2 ** (len(depths) - 1))
        self.head = nn.Linear(dim * 2 ** (len(depths) - 1), num_classes)

    def forward(self, x):
        x = self.patch_embed(x)
        for level in self.stages:
            x = level(x)
        return self.head(self.norm(x).flatten(1, 2).mean(1))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/checkpoints"
    torch.manual_seed(0)
    configs = {
        # NAT layout with layer scale; level 0 (9x9 at 36 px) dilated 3, later levels padded.
        "nat": dict(swin_layout=False, in_chans=3, dim=16, depths=[2, 1, 1], heads=[2, 2, 4],
                    kernel=3, dilations=[[1, 3], [1], [1]], mlp_ratio=2.0, layer_scale=1e-5,
                    num_classes=5),
        "dinats": dict(swin_layout=True, in_chans=3, dim=16, depths=[2, 1, 1], heads=[2, 4, 4],
                       kernel=3, dilations=[[1, 2], [1], [1]], mlp_ratio=4.0, layer_scale=None,
                       num_classes=5),
    }
    for name, cfg in configs.items():
        model = Model(**cfg).eval()
        with torch.no_grad():
            for p in model.parameters():  # non-trivial values everywhere (LayerNorm too)
                p.add_(torch.randn_like(p) * 0.1)
        images = torch.randn(2, 3, 36, 34)
        with torch.no_grad():
            logits = model(images)
        state = {k: v for k, v in model.state_dict().items() if not k.startswith("stages.")}
        torch.save({"model": state, "images": images, "logits": logits, "config": cfg},
                   os.path.join(out, f"nat_reference_{name}.pth"))


if __name__ == "__main__":
    main()
