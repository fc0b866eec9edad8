#!/usr/bin/env bash
# Installs the Debian packages Vitrine needs: the main job's, or with --tests also the test
# suite's. Idempotent: when everything is present it only checks and exits. Run as root, or as
# a user with sudo.
set -euo pipefail

# What building `vitrine` and its main job need (tools/build.sh vitrine).
packages=(
  cmake ninja-build g++ ccache
  libtorch-dev          # libtorch 1.13 (CPU)
  libopenblas0-pthread  # without it libtorch falls back to the reference BLAS (~40x slower)
  # OpenCV's three modules in use, not libopencv-dev (every module, VTK, codecs: ~70 more
  # packages); CMakeLists.txt finds them without OpenCV's CMake file.
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libyaml-cpp-dev libcli11-dev libfmt-dev libspdlog-dev
  libgloo-dev
  libsimdjson-dev       # COCO annotation/result files (on-demand JSON parsing)
  dataset-fashion-mnist  # the embedded default's data, IDX files in /usr/share/datasets
)
# ... and what the test suite and CI add (tools/setup.sh --tests; tools/build.sh with no target).
test_packages=(
  libgtest-dev
  clang-format           # tools/check_format.sh
  python3-torch          # PyTorch 1.13 (same ABI): cross-checks that it loads our ops library
)
case "${1:-}" in
  --tests) packages+=("${test_packages[@]}") ;;
  "") ;;
  *) echo "setup: usage: tools/setup.sh [--tests]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
