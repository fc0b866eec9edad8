"""Cross-check from PyTorch: libvitrine_ops.so loads with torch.ops.load_library, every
public op is callable by name, and torch.autograd.gradcheck accepts the hand-written
backward kernels. Exit 77 (skipped) when this interpreter has no torch."""
import sys

try:
    import torch
except ImportError:
    print("SKIPPED: no PyTorch in", sys.executable, "(Debian package python3-torch)")
    sys.exit(77)

torch.ops.load_library(sys.argv[1])
ops = torch.ops.vitrine
torch.manual_seed(0)


def rand(*shape):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


cases = [  # (axes, spatial, kernel, dilation, causal, with rpb)
    (1, [11], [3], [2], [False], True),
    (1, [9], [5], [1], [True], False),
    (2, [7, 8], [3, 5], [2, 1], [False, False], True),
    (3, [4, 5, 6], [3, 3, 3], [1, 1, 2], [False, True, False], False),
]
for axes, spatial, kernel, dilation, causal, with_rpb in cases:
    name = f"na{axes}d"
    q, k, v = rand(1, 2, *spatial, 3), rand(1, 2, *spatial, 3), rand(1, 2, *spatial, 3)
    rpb = rand(2, *[2 * x - 1 for x in kernel]) if with_rpb else None
    fused = getattr(ops, name)(q, k, v, rpb, kernel, dilation, causal, 0.4)
    attn = getattr(ops, name + "_qk")(q * 0.4, k, rpb, kernel, dilation, causal)
    unfused = getattr(ops, name + "_av")(attn.softmax(-1), v, kernel, dilation, causal)
    diff = (fused - unfused).abs().max().item()
    assert diff < 1e-12, f"{name}: fused and unfused differ by {diff}"
    inputs = (q, k, v) + ((rpb,) if with_rpb else ())

    def f(*x):
        return getattr(ops, name)(x[0], x[1], x[2], x[3] if with_rpb else None, kernel,
                                  dilation, causal, 0.4)

    assert torch.autograd.gradcheck(f, inputs), f"{name}: gradcheck failed"
    print(f"{name} {spatial} K={kernel} d={dilation} causal={causal}: ok (diff {diff:.1e})")

try:
    ops.na2d(torch.randn(1, 1, 5, 5, 2), torch.randn(1, 1, 5, 5, 2), torch.randn(1, 1, 5, 5, 2),
             None, [7], [1], [False], 1.0)
    raise AssertionError("K*d > L must raise")
except RuntimeError as e:
    assert "exceeds the input length" in str(e), str(e)
print("all checks passed")
