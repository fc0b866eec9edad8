#!/usr/bin/env bash
# Set-up and build in one step: installs packages (tools/setup.sh), configures a Release
# build in build/ with Ninja, and builds with every core. Extra arguments go to CMake's
# configure step (e.g. -DVITRINE_CUDA=OFF, -DTorch_DIR=...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
