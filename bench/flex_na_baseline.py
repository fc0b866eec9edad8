"""The peer a PyTorch user picks today for neighborhood attention without NATTEN: PyTorch's
flex_attention, compiled, with the NA window as a block-sparse mask_mod (and the relative
positional bias as a score_mod), beside full attention (SDPA) and Vitrine's own ops loaded
into the same process -- the problems of `vitrine-bench-ops --device cuda` (batch 128, 16
heads, head dim 32), the same kind of inputs, one run, CUDA-event medians.

Before timing, every problem checks that flex and Vitrine's fused op (both of its kernel
choices: VITRINE_NA_CUDA_FORWARD/BACKWARD=tiled and =fna, the tensor cores) give the same
outputs and the same gradients of q, k, v and the bias.

    python3 bench/flex_na_baseline.py build-gpu/libvitrine_ops.so [--dtype float16|bfloat16]
        [--only NAME] [--results-file FILE]

Exit status: 0 all agreed; 1 a mismatch; 77 no CUDA device (nothing run)."""
import argparse
import contextlib
import os
import statistics
import sys

import torch
import torch.nn.functional as F

PROBLEMS = [  # name, spatial lengths, kernel, dilation (every axis alike)
    ("14x14 K7 d1", [14, 14], 7, 1),
    ("28x28 K7 d1", [28, 28], 7, 1),
    ("28x28 K7 d2", [28, 28], 7, 2),
    ("56x56 K7 d1", [56, 56], 7, 1),
    ("56x56 K7 d4", [56, 56], 7, 4),
    ("56x56 K7 d8", [56, 56], 7, 8),
    ("1-D 4096 K7", [4096], 7, 1),
    ("3-D 16x32x32 K3", [16, 32, 32], 3, 1),
]
BATCH, HEADS, DIM = 128, 16, 32


def axis_window(i, length, kernel, dilation):
    """(group, first in-group coordinate) of the NA window of positions i (a tensor): the
    window is clamped inside the dilation group (na_index.h, non-causal)."""
    group = i % dilation
    glen = (length - group + dilation - 1) // dilation
    start = torch.clamp(i // dilation - kernel // 2, min=0)
    start = torch.minimum(start, glen - kernel)
    return group, start


def coords(flat, lengths):
    out = []
    for length in reversed(lengths):
        out.append(flat % length)
        flat = flat // length
    return list(reversed(out))


def make_mask_mod(lengths, kernel, dilation):
    def mask_mod(b, h, q_idx, kv_idx):
        keep = None
        for qi, kj, length in zip(coords(q_idx, lengths), coords(kv_idx, lengths), lengths):
            group, start = axis_window(qi, length, kernel, dilation)
            rel = kj // dilation - start
            ok = (kj % dilation == group) & (rel >= 0) & (rel < kernel)
            keep = ok if keep is None else keep & ok
        return keep
    return mask_mod


def make_score_mod(lengths, kernel, dilation, rpb):
    def score_mod(score, b, h, q_idx, kv_idx):
        index = [h]
        for qi, kj in zip(coords(q_idx, lengths), coords(kv_idx, lengths)):
            # Outside the window the index is clamped; those scores are masked anyway.
            index.append(torch.clamp((kj - qi) // dilation + kernel - 1, 0, 2 * kernel - 2))
        return score + rpb[tuple(index)]
    return score_mod


@contextlib.contextmanager
def kernel_choice(choice):
    """Vitrine's fused kernels for the forward and the backward: "tiled" or "fna"; None leaves
    the environment alone (the other implementations)."""
    names = ("VITRINE_NA_CUDA_FORWARD", "VITRINE_NA_CUDA_BACKWARD")
    if choice is None:
        yield
        return
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update({n: choice for n in names})
    try:
        yield
    finally:
        for n, value in saved.items():
            if value is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = value


def relative_error(got, want):
    return ((got.float() - want.float()).abs().max() / want.float().abs().max().clamp_min(1e-6)).item()


def cuda_median_ms(fn, warmup=5, repeats=21):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ops_library")
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16"])
    parser.add_argument("--only", default="")
    parser.add_argument("--results-file", default="")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 77
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    torch.ops.load_library(args.ops_library)
    vitrine = torch.ops.vitrine
    flex = torch.compile(flex_attention, dynamic=False)
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    rows, failures = [], 0
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, {args.dtype}")
    for name, lengths, kernel, dilation in PROBLEMS:
        if args.only and args.only not in name:
            continue
        axes = len(lengths)
        tokens = 1
        for length in lengths:
            tokens *= length
        shape = [BATCH, HEADS, *lengths, DIM]
        q, k, v, grad = (torch.randn(shape, device="cuda", dtype=dtype) for _ in range(4))
        rpb = (torch.randn([HEADS] + [2 * kernel - 1] * axes, device="cuda") * 0.02).to(dtype)
        scale = DIM ** -0.5
        flat = lambda t: t.reshape(BATCH, HEADS, tokens, DIM)
        block_mask = create_block_mask(make_mask_mod(lengths, kernel, dilation), None, None,
                                       tokens, tokens, device="cuda")
        # The bias flex reads, as a leaf: flex differentiates the tensors score_mod captures.
        rpb_leaf = rpb.clone().requires_grad_(True)
        score_mod = make_score_mod(lengths, kernel, dilation, rpb_leaf)
        op = getattr(vitrine, f"na{axes}d")

        impls = {
            "flex NA mask": lambda qq, kk, vv, bias: flex(
                flat(qq), flat(kk), flat(vv), block_mask=block_mask, scale=scale).view(shape),
            "flex NA mask + rpb": lambda qq, kk, vv, bias: flex(
                flat(qq), flat(kk), flat(vv), score_mod=score_mod, block_mask=block_mask,
                scale=scale).view(shape),
            "vitrine op (tiled) in PyTorch": lambda qq, kk, vv, bias: op(
                qq, kk, vv, bias, [kernel], [dilation], [False], scale),
            "vitrine op (fna) in PyTorch": lambda qq, kk, vv, bias: op(
                qq, kk, vv, bias, [kernel], [dilation], [False], scale),
            "SDPA full attention": lambda qq, kk, vv, bias: F.scaled_dot_product_attention(
                flat(qq), flat(kk), flat(vv), scale=scale).view(shape),
        }
        choice_of = lambda impl: ("fna" if "(fna)" in impl else "tiled" if "vitrine" in impl
                                  else None)
        tol = 2e-2 if dtype == torch.float16 else 1e-1

        def bias_leaf(impl, fresh):
            return rpb_leaf if impl.startswith("flex") else fresh

        def outputs_and_grads(impl):
            leaves = [t.clone().requires_grad_(True) for t in (q, k, v, rpb)]
            leaves[3] = bias_leaf(impl, leaves[3])
            with kernel_choice(choice_of(impl)):
                out = impls[impl](*leaves)
                grads = torch.autograd.grad(out, leaves, grad, allow_unused=True)
                return [out.detach()] + list(grads)

        # Agreement first: flex with the bias is the same function as Vitrine's op, forward and
        # backward (q, k, v and bias gradients).
        try:
            want = outputs_and_grads("flex NA mask + rpb")
        except Exception as e:  # not Vitrine's failure: report it and time what runs
            print(f"  {name}: flex reference failed, nothing compared: {str(e).splitlines()[0]}")
            want = None
        for impl in ("vitrine op (tiled) in PyTorch", "vitrine op (fna) in PyTorch") if want else ():
            got = outputs_and_grads(impl)
            for what, g, w in zip(("out", "dq", "dk", "dv", "drpb"), got, want):
                if w is None:  # a PyTorch whose flex does not differentiate captured tensors
                    print(f"  {name}: flex gave no {what}: not compared")
                    continue
                err = relative_error(g, w)
                ok = err < tol
                failures += not ok
                print(f"  {name}: {impl} {what} vs flex: max relative error {err:.2e} "
                      f"{'ok' if ok else 'MISMATCH'}")
        for impl, fn in impls.items():
            with kernel_choice(choice_of(impl)), torch.no_grad():
                fwd = cuda_median_ms(lambda: fn(q, k, v, rpb))
            qg, kg, vg = (t.clone().requires_grad_(True) for t in (q, k, v))
            bg = bias_leaf(impl, rpb.clone().requires_grad_(True))
            needs = [qg, kg, vg] + ([bg] if "rpb" in impl or "vitrine" in impl else [])

            def step():
                out = fn(qg, kg, vg, bg)
                torch.autograd.grad(out, needs, grad)

            try:
                with kernel_choice(choice_of(impl)):
                    both = cuda_median_ms(step)
            except Exception as e:  # an implementation without a backward here: say so
                print(f"  {name}: {impl} fwd+bwd failed: {str(e).splitlines()[0]}")
                both = float("nan")
            rows.append((name, impl, fwd, both))
            print(f"  {name:16s} {impl:36s} fwd {fwd:8.3f} ms  fwd+bwd {both:8.3f} ms", flush=True)

    table = ["| problem | implementation | fwd ms | fwd+bwd ms |", "|---|---|---:|---:|"]
    table += [f"| {n} | {i} | {f:.3f} | {b:.3f} |" for n, i, f, b in rows]
    text = "\n".join(table) + "\n"
    print("\n" + text)
    if args.results_file:
        with open(args.results_file, "a") as out:
            out.write(f"flex baseline, torch {torch.__version__}, {args.dtype}, batch {BATCH}, "
                      f"{HEADS} heads, head dim {DIM}\n\n{text}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
