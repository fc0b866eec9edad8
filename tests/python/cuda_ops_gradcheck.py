"""GPU cross-check from PyTorch: the CUDA ops of libvitrine_ops.so pass
torch.autograd.gradcheck in float64 (the naive kernels), agree with the CPU ops in float32
at the head dims the tiled fused kernels serve, and equal PyTorch's own full attention where
the window covers the whole input. Exit 77 (skipped) without PyTorch or a CUDA device."""
import sys

try:
    import torch
except ImportError:
    print("SKIPPED: no PyTorch in", sys.executable)
    sys.exit(77)
if not torch.cuda.is_available():
    print("SKIPPED: no CUDA device visible to PyTorch", torch.__version__)
    sys.exit(77)

torch.ops.load_library(sys.argv[1])
ops = torch.ops.vitrine
torch.manual_seed(0)
cuda = torch.device("cuda")

cases = [  # (axes, spatial, kernel, dilation, causal, with rpb)
    (1, [13], [5], [2], [False], True),
    (1, [9], [3], [1], [True], False),
    (2, [7, 9], [3, 5], [2, 1], [False, False], True),
    (2, [6, 6], [3, 3], [1, 2], [True, False], False),
    (3, [4, 5, 6], [3, 3, 3], [1, 1, 2], [False, True, False], False),
    (3, [5, 4, 4], [3, 3, 3], [1, 1, 1], [False, False, False], True),
]


def inputs(axes, spatial, kernel, with_rpb, dim, dtype, device, grad=True):
    make = lambda *s: torch.randn(*s, dtype=dtype, device=device, requires_grad=grad)
    q, k, v = (make(2, 2, *spatial, dim) for _ in range(3))
    rpb = make(2, *[2 * x - 1 for x in kernel]) if with_rpb else None
    return q, k, v, rpb


# 1. gradcheck of every op on the GPU in float64.
for axes, spatial, kernel, dilation, causal, with_rpb in cases:
    name = f"na{axes}d"
    q, k, v, rpb = inputs(axes, spatial, kernel, with_rpb, 4, torch.float64, cuda)
    extra = (rpb,) if with_rpb else ()

    def fused(*x):
        return getattr(ops, name)(x[0], x[1], x[2], x[3] if with_rpb else None, kernel,
                                  dilation, causal, 0.5)

    def qk(*x):
        logits = getattr(ops, name + "_qk")(x[0], x[1], x[2] if with_rpb else None, kernel,
                                            dilation, causal)
        # Causally masked slots hold -inf, where finite differences give NaN: compare the rest.
        return logits.masked_fill(logits.isinf(), 0)

    attn = getattr(ops, name + "_qk")(q, k, rpb, kernel, dilation, causal).detach().softmax(-1).requires_grad_(True)

    def av(a, vv):
        return getattr(ops, name + "_av")(a, vv, kernel, dilation, causal)

    assert torch.autograd.gradcheck(fused, (q, k, v) + extra), f"{name} fused"
    assert torch.autograd.gradcheck(qk, (q, k) + extra), f"{name} qk"
    # Causal windows leave masked slots (-inf logits, 0 probabilities) that av never reads.
    assert torch.autograd.gradcheck(av, (attn, v)), f"{name} av"
    print(f"gradcheck {name} {spatial} K={kernel} d={dilation} causal={causal} "
          f"rpb={with_rpb}: ok")

# 2. The tiled fused kernels (head dims 32/64/128) against the CPU ops, values and gradients.
for dim in (32, 64, 128):
    for axes, spatial, kernel, dilation, causal, with_rpb in cases:
        name = f"na{axes}d"
        q, k, v, rpb = inputs(axes, spatial, kernel, with_rpb, dim, torch.float64, "cpu")
        scale = dim ** -0.5
        results = {}
        for device in ("cpu", "cuda"):
            leaves = [t.detach().to(device, torch.float32).requires_grad_(True)
                      for t in (q, k, v) + ((rpb,) if with_rpb else ())]
            out = getattr(ops, name)(leaves[0], leaves[1], leaves[2],
                                     leaves[3] if with_rpb else None, kernel, dilation,
                                     causal, scale)
            grad = torch.linspace(-1, 1, out.numel(), dtype=torch.float32).view(out.shape)
            out.backward(grad.to(device))
            results[device] = [out.detach().cpu()] + [t.grad.cpu() for t in leaves]
        for what, a, b in zip(("out", "dq", "dk", "dv", "drpb"), results["cpu"],
                              results["cuda"]):
            err = ((a - b).abs().max() / a.abs().max().clamp_min(1e-6)).item()
            # rpb gradients sum over every query: a looser bound.
            bound = 4e-5 if what == "drpb" else 1e-5
            assert err < bound, f"{name} D={dim} {what}: relative error {err:.2e}"
    print(f"fused D={dim} float32 == CPU ops (values and gradients): ok")

# 3. A window covering the whole input is full attention: against PyTorch's SDPA.
for dtype, tol in ((torch.float32, 1e-5), (torch.float16, 2e-3), (torch.bfloat16, 2e-2)):
    for dim in (32, 64, 128):
        q, k, v, _ = inputs(2, [7, 9], [7, 9], False, dim, dtype, cuda, grad=False)
        got = ops.na2d(q, k, v, None, [7, 9], [1, 1], [False, False], dim ** -0.5)
        flat = lambda t: t.reshape(2, 2, 63, dim)
        want = torch.nn.functional.scaled_dot_product_attention(flat(q), flat(k), flat(v))
        err = ((got.reshape(2, 2, 63, dim) - want).abs().max()).item()
        assert err < tol, f"full window {dtype} D={dim}: {err:.2e}"
    print(f"full window == SDPA in {dtype}: ok")

print("all CUDA checks passed")
