#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU, nvcc, CMake and a Python PyTorch built
# with CUDA but none of Debian's libraries (the `device` machine): builds the ops library,
# the CUDA kernels, their self-test, the GPU tests and the ops benchmark against PyTorch's
# libtorch (ops-only configuration; CLI11 and GoogleTest come from the folder that
# tools/gpu_bundle.sh makes), then runs them. Logs and benchmark tables go to $OUT (default
# gpu-out/). Exit status: non-zero when the build or any test failed.
#   tools/gpu_bundle.sh            # on a Debian machine, once: fills .gpu/
#   tools/gpu_check.sh [quick]     # on the GPU machine; "quick" skips the benchmark
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
bundle=${VITRINE_BUNDLE_DIR:-$PWD/.gpu}
status=0
step() { echo; echo "== $* ($(date +%T))"; }

step environment
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
  nvcc --version | tail -2
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
"cxx11 abi", torch.compiled_with_cxx11_abi())'
  g++ --version | head -1
  cmake --version | head -1
  echo "cores $(nproc)"
} 2>&1 | tee "$out/environment.txt"

step configure
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B build-gpu "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DVITRINE_OPS_ONLY=ON \
  -DVITRINE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${VITRINE_CUDA_ARCH:-90}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DVITRINE_BUNDLE_DIR="$bundle" -DVITRINE_WERROR=OFF >"$out/configure.txt" 2>&1 ||
  { tail -40 "$out/configure.txt"; exit 2; }
grep -E "vitrine:|Torch|CUDA" "$out/configure.txt"

step build
start=$SECONDS
cmake --build build-gpu -j "$(nproc)" >"$out/build.txt" 2>&1 ||
  { grep -E -B2 -A12 "error" "$out/build.txt" | head -150; exit 3; }
echo "built in $((SECONDS - start)) s"

run() {  # name, command...: runs with a log in $out, records failure
  local name=$1
  shift
  step "$name"
  local start=$SECONDS
  timeout 900 "$@" >"$out/$name.txt" 2>&1
  local rc=$?
  tail -25 "$out/$name.txt"
  echo "-- $name: exit $rc in $((SECONDS - start)) s"
  [[ $rc -eq 0 ]] || status=1
}
run cuda_selftest build-gpu/vitrine_cuda_selftest
run gpu_tests build-gpu/vitrine_gpu_tests
run pytorch_loads_ops python3 tests/python/pytorch_loads_ops.py build-gpu/libvitrine_ops.so
if ! grep -q "all checks passed" "$out/pytorch_loads_ops.txt" && command -v cuda-gdb >/dev/null; then
  # The 2026-12-01 run crashed (SIGSEGV) where an op must raise: keep a backtrace.
  step "pytorch_loads_ops backtrace"
  timeout 300 cuda-gdb -q -batch -ex run -ex bt --args python3 tests/python/pytorch_loads_ops.py \
    build-gpu/libvitrine_ops.so >"$out/pytorch_loads_ops_backtrace.txt" 2>&1
  grep -A30 "SIGSEGV" "$out/pytorch_loads_ops_backtrace.txt" | head -40
fi
run pytorch_cuda_gradcheck python3 tests/python/cuda_ops_gradcheck.py build-gpu/libvitrine_ops.so

if [[ ${1:-} != quick ]]; then
  run bench_float16 build-gpu/vitrine-bench-ops --device cuda --dtype float16 \
    --results-file "$out/bench_cuda.md"
  run bench_bfloat16 build-gpu/vitrine-bench-ops --device cuda --dtype bfloat16 --no-baselines \
    --results-file "$out/bench_cuda.md"
  run bench_float32 build-gpu/vitrine-bench-ops --device cuda --dtype float32 --no-baselines \
    --results-file "$out/bench_cuda.md"
fi
step "done: status $status"
exit $status
