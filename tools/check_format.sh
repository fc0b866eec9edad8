#!/usr/bin/env bash
# Fails when a C++/CUDA source differs from what clang-format (.clang-format) would write, and
# lists those files. `tools/check_format.sh --fix` formats them in place. CI runs the check.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check_format: clang-format not installed (tools/setup.sh)" >&2; exit 2; }
mapfile -t files < <(git ls-files '*.h' '*.hpp' '*.cpp' '*.cu' '*.cuh')
if [[ ${1:-} == --fix ]]; then
  clang-format -i "${files[@]}"
  echo "check_format: formatted ${#files[@]} files"
  exit 0
fi
drift=()
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then drift+=("$f"); fi
done
if ((${#drift[@]})); then
  printf 'check_format: %s differs from clang-format\n' "${drift[@]}"
  echo "check_format: ${#drift[@]} of ${#files[@]} files drift; run tools/check_format.sh --fix"
  exit 1
fi
echo "check_format: ${#files[@]} files match .clang-format ($(clang-format --version | head -1))"
