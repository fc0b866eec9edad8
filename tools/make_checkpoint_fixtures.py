#!/usr/bin/python3
"""Writes the small torch.save files that tests/models/checkpoint_test.cpp reads.

Run with Debian's python3-torch (/usr/bin/python3); the outputs are committed under
tests/fixtures/checkpoints so the C++ tests need no Python. Every tensor is built from
arange so the test can recompute the expected values independently.
"""
import argparse
import collections
import os
import sys

import torch


def state_dict(prefix=""):
    sd = collections.OrderedDict()
    sd[prefix + "a.weight"] = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd[prefix + "a.bias"] = torch.arange(3, dtype=torch.float64)
    sd[prefix + "n.num_batches_tracked"] = torch.tensor(5)
    # A transposed view: stride (1, 4) into a shared 16-element storage.
    sd[prefix + "v"] = torch.arange(16, dtype=torch.float32).reshape(4, 4).t()
    sd[prefix + "p"] = torch.nn.Parameter(torch.arange(6, dtype=torch.float16))
    sd._metadata = {"": {"version": 1}}
    return sd


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/checkpoints"
    os.makedirs(out, exist_ok=True)
    torch.save(state_dict(), os.path.join(out, "zip_state_dict.pth"))
    torch.save(state_dict(), os.path.join(out, "legacy_state_dict.pth"),
               _use_new_zipfile_serialization=False)
    nested = {
        "model": state_dict("module."),
        "epoch": 3,
        "args": argparse.Namespace(lr=0.1, model="dinat_tiny"),
        "best_top1": 81.5,
        "tag": b"\x00\xffbytes",
    }
    torch.save(nested, os.path.join(out, "nested_checkpoint.pth.tar"))


if __name__ == "__main__":
    main()
