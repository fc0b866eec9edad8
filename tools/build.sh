#!/usr/bin/env bash
# Set-up and build in one step: installs packages (tools/setup.sh), configures a Release
# build in build/ with Ninja, and builds with every core.
#
#   tools/build.sh                 everything: the binary, tests, tools, and the CUDA kernels
#                                  where nvcc exists (what the test command and CI need)
#   tools/build.sh vitrine         only the `vitrine` binary and what it links (the main job)
#   tools/build.sh -DVITRINE_CUDA=OFF vitrine-bench ...
#
# Arguments that start with "-" go to CMake's configure step (-DVITRINE_CUDA=OFF,
# -DTorch_DIR=...); the others name build targets.
set -euo pipefail
cd "$(dirname "$0")/.."
configure_args=()
targets=()
for argument in "$@"; do
  if [[ "$argument" == -* ]]; then
    configure_args+=("$argument")
  else
    targets+=("$argument")
  fi
done
if ((${#targets[@]})); then
  bash tools/setup.sh
else
  bash tools/setup.sh --tests
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${configure_args[@]}"
if ((${#targets[@]})); then
  cmake --build build -j"$(nproc)" --target "${targets[@]}"
else
  cmake --build build -j"$(nproc)"
fi
