#!/usr/bin/env python3
"""Checks the floor plan of docs/architecture.md against the code's #include lines.

Every source file under kernels/ and src/ belongs to a floor (its first folder); a floor may
include only itself and the floors listed for it in ALLOWED. Kernel code must also stay free
of framework headers (torch, ATen, c10, OpenCV). Prints one line per violation and exits 1
when there is any; `--self-test` plants violations in a scratch tree and checks that each is
reported (the checker's own test).

    tools/check_layering.py [ROOT]      # ROOT defaults to the repository this file is in
"""
import os
import re
import sys
import tempfile

# Floor -> the floors it may include besides itself (the table in docs/architecture.md).
ALLOWED = {
    "core": set(),
    "kernels": set(),
    "config": {"core"},
    "layers": {"core"},
    "attention": {"layers", "kernels", "core"},
    "models": {"attention", "layers", "config", "core"},
    "data": {"config", "core"},
    "evaluation": {"data", "config", "core"},
    "train": {"evaluation", "data", "models", "attention", "layers", "config", "core"},
    "export": {"models", "attention", "layers", "config", "core"},
    "bench": {"models", "attention", "layers", "config", "core"},
    "cli": {"train", "evaluation", "data", "models", "attention", "layers", "config", "core",
            "export", "bench"},
}
# Headers a floor must not include at all.
FORBIDDEN_SYSTEM = {
    "kernels": re.compile(r"^(torch|ATen|c10|opencv2)/"),
    "config": re.compile(r"^(torch|ATen|c10)/"),
}
SOURCE = re.compile(r"\.(h|hpp|cpp|cu|cuh)$")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def floor_of(relative):
    """Floor of a path relative to the root: kernels/... or src/<floor>/..."""
    parts = relative.split("/")
    if parts[0] == "kernels":
        return "kernels"
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    return None


def resolve(root, including_dir, name):
    """The repository path a quoted include refers to (include roots: src/, kernels/, the
    including file's folder), or None for headers outside the repository."""
    for base in (os.path.join(root, "src"), os.path.join(root, "kernels"), including_dir):
        candidate = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(candidate):
            return os.path.relpath(candidate, root)
    return None


def violations(root):
    found = []
    for top in ("src", "kernels"):
        for directory, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not SOURCE.search(name):
                    continue
                path = os.path.join(directory, name)
                relative = os.path.relpath(path, root)
                floor = floor_of(relative)
                if floor is None:
                    continue
                if floor not in ALLOWED:
                    found.append(f"{relative}: folder '{floor}' is not a floor of the plan")
                    continue
                with open(path, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        kind, target = m.groups()
                        banned = FORBIDDEN_SYSTEM.get(floor)
                        if banned and banned.search(target):
                            found.append(f"{relative}:{number}: {floor}/ must not include "
                                         f"<{target}>")
                            continue
                        if kind != '"':
                            continue
                        included = resolve(root, directory, target)
                        target_floor = floor_of(included) if included else None
                        if target_floor is None or target_floor == floor:
                            continue
                        if target_floor not in ALLOWED[floor]:
                            found.append(f"{relative}:{number}: {floor}/ includes "
                                         f"{target_floor}/ ({target}), which is not below it")
    return found


def self_test():
    planted = {
        "src/layers/bad.h": '#include "models/registry.h"\n',  # upward
        "src/models/registry.h": "#pragma once\n",
        "kernels/na/bad.h": "#include <ATen/core/Tensor.h>\n",  # framework header in kernels
        "src/data/ok.h": '#include "config/node.h"\n',  # allowed
        "src/config/node.h": "#pragma once\n",
        "src/bench/bad.cpp": '#include "cli/commands.h"\n',  # bench reaching into cli
        "src/cli/commands.h": "#pragma once\n",
    }
    with tempfile.TemporaryDirectory() as root:
        for relative, text in planted.items():
            os.makedirs(os.path.dirname(os.path.join(root, relative)), exist_ok=True)
            with open(os.path.join(root, relative), "w") as f:
                f.write(text)
        got = violations(root)
    expected = ["src/layers/bad.h", "kernels/na/bad.h", "src/bench/bad.cpp"]
    missing = [e for e in expected if not any(line.startswith(e) for line in got)]
    if missing or len(got) != len(expected):
        print("check_layering self-test failed; reported:\n  " + "\n  ".join(got))
        return 1
    print(f"check_layering self-test: {len(got)} planted violations reported, none else")
    return 0


def main(argv):
    if argv[1:2] == ["--self-test"]:
        return self_test()
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = violations(root)
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} include(s) break the floor plan (docs/architecture.md)")
        return 1
    print("layering: every include goes to the same or a lower floor")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
