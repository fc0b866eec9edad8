"""The PyTorch models a user would train instead of Vitrine's, eager, timed as
`vitrine bench model --device cuda --amp bf16` times Vitrine's: batch 128, bf16 autocast around
forward and loss, cross-entropy on random labels, backward, an SGD-like update; inference in
eval mode under inference_mode. Contiguous and channels-last rows.

  * timm's halonet26t at 256 and torchvision's resnet50 at 224;
  * DiNAT-T at 224 written here in plain PyTorch (the paper's layout: conv tokenizer, levels of
    depths 3/4/18/5 and 2/4/8/16 heads, MLP ratio 3, kernel 7, dilations 1-8-1 / 1-4-1-4 /
    (1-2)x9 / 1x5, relative positional bias, drop path 0.2), with its neighborhood attention
    from flex_attention (NA block mask, rpb score_mod) or from Vitrine's op loaded into
    PyTorch (torch.ops.vitrine.na2d).

    python3 bench/pytorch_peer_models.py [--ops-library build/libvitrine_ops.so] [--batch 128]
        [--warmup 5] [--iters 20] [--only NAME] [--results-file FILE]

Exit status: 0; 77 without a CUDA device."""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flex_na_baseline import make_mask_mod, make_score_mod  # noqa: E402  (same folder)


class DropPath(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)


class NeighborhoodAttention2d(nn.Module):
    """x: [B, H, W, C] -> [B, H, W, C]; NA over the H x W map, qkv/proj with bias, rpb."""

    def __init__(self, dim, heads, kernel, dilation, backend):
        super().__init__()
        self.heads, self.kernel, self.dilation, self.backend = heads, kernel, dilation, backend
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.rpb = nn.Parameter(torch.randn(heads, 2 * kernel - 1, 2 * kernel - 1) * 0.02)
        self._masks = {}

    def forward(self, x):
        b, h, w, c = x.shape
        hd = c // self.heads
        qkv = self.qkv(x).reshape(b, h, w, 3, self.heads, hd).permute(3, 0, 4, 1, 2, 5)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, heads, H, W, hd]
        if self.backend == "vitrine":
            out = torch.ops.vitrine.na2d(q.contiguous(), k.contiguous(), v.contiguous(),
                                         self.rpb.to(q.dtype), [self.kernel], [self.dilation],
                                         [False], self.scale)
        else:
            from torch.nn.attention.flex_attention import create_block_mask
            key = (h, w)
            if key not in self._masks:
                mask = make_mask_mod([h, w], self.kernel, self.dilation)
                self._masks[key] = create_block_mask(mask, None, None, h * w, h * w,
                                                     device=x.device)
            score = make_score_mod([h, w], self.kernel, self.dilation, self.rpb)
            flat = lambda t: t.reshape(b, self.heads, h * w, hd)
            out = FLEX(flat(q), flat(k), flat(v), score_mod=score, block_mask=self._masks[key],
                       scale=self.scale).view(b, self.heads, h, w, hd)
        return self.proj(out.permute(0, 2, 3, 1, 4).reshape(b, h, w, c))


class NATLayer(nn.Module):
    def __init__(self, dim, heads, kernel, dilation, mlp_ratio, drop_path, backend):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = NeighborhoodAttention2d(dim, heads, kernel, dilation, backend)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(),
                                 nn.Linear(int(dim * mlp_ratio), dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class DiNAT(nn.Module):
    def __init__(self, backend, embed=64, depths=(3, 4, 18, 5), heads=(2, 4, 8, 16),
                 mlp_ratio=3.0, kernel=7, drop_path=0.2, num_classes=1000):
        super().__init__()
        dilations = [[1, 8, 1], [1, 4, 1, 4], [1, 2] * 9, [1] * 5]
        self.tokenizer = nn.Sequential(nn.Conv2d(3, embed // 2, 3, 2, 1),
                                       nn.Conv2d(embed // 2, embed, 3, 2, 1))
        self.token_norm = nn.LayerNorm(embed)
        rates = torch.linspace(0, drop_path, sum(depths)).tolist()
        self.levels, self.downsamplers = nn.ModuleList(), nn.ModuleList()
        at = 0
        for i, depth in enumerate(depths):
            dim = embed * 2 ** i
            self.levels.append(nn.Sequential(*[
                NATLayer(dim, heads[i], kernel, dilations[i][j], mlp_ratio, rates[at + j], backend)
                for j in range(depth)]))
            at += depth
            if i < len(depths) - 1:
                self.downsamplers.append(nn.ModuleDict({
                    "conv": nn.Conv2d(dim, 2 * dim, 3, 2, 1, bias=False),
                    "norm": nn.LayerNorm(2 * dim)}))
        self.norm = nn.LayerNorm(embed * 2 ** (len(depths) - 1))
        self.head = nn.Linear(embed * 2 ** (len(depths) - 1), num_classes)

    def forward(self, images):
        x = self.token_norm(self.tokenizer(images).permute(0, 2, 3, 1))  # [B, H, W, C]
        for i, level in enumerate(self.levels):
            x = level(x)
            if i < len(self.downsamplers):
                d = self.downsamplers[i]
                x = d["norm"](d["conv"](x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
        return self.head(self.norm(x).mean(dim=(1, 2)))


FLEX = None


def time_steps(step, warmup, iters):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def bench(name, make, img, args, channels_last):
    model = make().cuda()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    images = torch.randn(args.batch, 3, img, img, device="cuda").to(memory_format=fmt)
    labels = torch.randint(1000, (args.batch,), device="cuda")
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    model.eval()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        infer = time_steps(lambda: model(images), args.warmup, args.iters)
    model.train()

    def train_step():
        for p in params:
            p.grad = None
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(images).float(), labels)
        loss.backward()
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-1e-4)

    train = time_steps(train_step, args.warmup, args.iters)
    layout = "channels_last" if channels_last else "contiguous"
    for mode, seconds in (("infer", infer), ("train", train)):
        rate = args.batch / seconds
        rows.append((name, layout, mode, img, rate, seconds * 1e3))
        print(f"  {name:34s} {layout:13s} {mode:5s} {img:4d} {rate:10.1f} img/s "
              f"{seconds * 1e3:8.1f} ms", flush=True)
    del model
    torch.cuda.empty_cache()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops-library", default="")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--only", default="")
    parser.add_argument("--results-file", default="")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 77
    global FLEX
    from torch.nn.attention.flex_attention import flex_attention
    FLEX = torch.compile(flex_attention, dynamic=False)
    torch.backends.cudnn.benchmark = True
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, batch {args.batch}, "
          "bf16 autocast")
    peers = []
    try:
        import timm
        peers.append(("timm halonet26t", lambda: timm.create_model("halonet26t"), 256))
    except ImportError as e:
        print(f"  timm unavailable: {e}")
    try:
        import torchvision
        peers.append(("torchvision resnet50", lambda: torchvision.models.resnet50(), 224))
    except ImportError as e:
        print(f"  torchvision unavailable: {e}")
    peers.append(("DiNAT-T, flex_attention NA", lambda: DiNAT("flex"), 224))
    if args.ops_library:
        torch.ops.load_library(args.ops_library)
        peers.append(("DiNAT-T, Vitrine's NA op", lambda: DiNAT("vitrine"), 224))
    rows = []
    for name, make, img in peers:
        if args.only and args.only not in name:
            continue
        for channels_last in (False, True):
            try:
                rows += bench(name, make, img, args, channels_last)
            except Exception as e:  # report and go on: one peer failing keeps the others
                print(f"  {name}: failed: {str(e).splitlines()[0]}")
    table = ["| model | memory format | mode | img | images/s | step ms |",
             "|---|---|---|---:|---:|---:|"]
    table += [f"| {n} | {l} | {m} | {i} | {r:.1f} | {s:.1f} |" for n, l, m, i, r, s in rows]
    text = "\n".join(table) + "\n"
    print("\n" + text)
    if args.results_file:
        with open(args.results_file, "a") as out:
            out.write(f"PyTorch peers, torch {torch.__version__}, batch {args.batch}, bf16\n\n"
                      f"{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
