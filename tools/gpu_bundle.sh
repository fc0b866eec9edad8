#!/usr/bin/env bash
# Copies what an ops-only GPU build needs beyond libtorch and nvcc — CLI11's headers and
# GoogleTest's sources, from this machine's Debian packages — into a folder (default .gpu/,
# git-ignored) that travels to a GPU box without them. Use it there with
# -DVITRINE_BUNDLE_DIR=<folder> (tools/gpu_check.sh does).
set -euo pipefail
dest=${1:-.gpu}
for need in /usr/include/CLI/CLI.hpp /usr/src/googletest/CMakeLists.txt; do
  [[ -e $need ]] || { echo "gpu_bundle: $need missing (apt-get install libcli11-dev googletest)" >&2; exit 1; }
done
rm -rf "$dest"
mkdir -p "$dest/include"
cp -r /usr/include/CLI "$dest/include/"
cp -r /usr/src/googletest "$dest/googletest"
echo "gpu_bundle: $(du -sh "$dest" | cut -f1) in $dest"
