"""Cross-check from PyTorch: files written by `vitrine export` load with torch.jit.load — the
portable flavour with nothing else loaded (in a fresh interpreter, before the ops library),
the custom-op flavour after torch.ops.load_library — and both give the same outputs for any
batch. Arguments: the vitrine binary, libvitrine_ops.so, a scratch folder. Exit 77 (skipped)
when this interpreter has no torch."""
import os
import subprocess
import sys

try:
    import torch
except ImportError:
    print("SKIPPED: no PyTorch in", sys.executable, "(Debian package python3-torch)")
    sys.exit(77)

vitrine, ops_library, scratch = sys.argv[1:4]
os.makedirs(scratch, exist_ok=True)
portable = os.path.join(scratch, "portable.pt")
custom = os.path.join(scratch, "custom.pt")
for out, extra in ((portable, ["portable=true"]), (custom, [])):
    subprocess.run([vitrine, "export", "model=dinat_nano", "out=" + out] + extra, check=True,
                   stdout=subprocess.DEVNULL)

torch.manual_seed(0)
images = torch.randn(3, 1, 28, 28)
stock = torch.jit.load(portable)  # no vitrine library loaded yet
with torch.no_grad():
    expected = stock(images)
assert expected.shape == (3, 10), expected.shape
try:
    torch.jit.load(custom)
    raise SystemExit("the custom-op file loaded without libvitrine_ops.so")
except RuntimeError as e:
    assert "vitrine" in str(e), e

torch.ops.load_library(ops_library)
with_ops = torch.jit.load(custom)
with torch.no_grad():
    got = with_ops(images)
    single = with_ops(images[1:2])
difference = (got - expected).abs().max().item()
assert difference < 1e-4, difference
assert (single - got[1:2]).abs().max().item() < 1e-5
print("exported files load in PyTorch", torch.__version__, "max difference", difference)
