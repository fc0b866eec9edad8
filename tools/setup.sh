#!/usr/bin/env bash
# Installs the Debian packages Vitrine needs. Idempotent: when everything is present it
# only checks and exits. Run as root, or as a user with sudo.
set -euo pipefail

packages=(
  cmake ninja-build g++ ccache clang-format
  libtorch-dev          # libtorch 1.13 (CPU)
  libopenblas0-pthread  # without it libtorch falls back to the reference BLAS (~40x slower)
  libopencv-dev libyaml-cpp-dev libcli11-dev libfmt-dev libspdlog-dev
  libgtest-dev libgloo-dev
  libsimdjson-dev       # COCO annotation/result files (on-demand JSON parsing)
  dataset-fashion-mnist  # the embedded default's data, IDX files in /usr/share/datasets
  python3-torch          # PyTorch 1.13 (same ABI): cross-checks that it loads our ops library
)

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
