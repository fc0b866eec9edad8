#!/usr/bin/env bash
# Gathers what a build on the GPU machine needs beyond PyTorch's libtorch, nvcc and CMake into
# a folder (default .gpu/, git-ignored) that travels with the working tree; tools/gpu_check.sh
# passes it to CMake as -DVITRINE_BUNDLE_DIR (cmake/Bundle.cmake reads it).
#
#   tools/gpu_bundle.sh [--full] [folder]
#
# Always (the ops-only build's extras): include/CLI (CLI11's headers) and googletest/
# (GoogleTest's sources), from this machine's Debian packages.
# --full adds what the full project (CLI, trainer, data, tests) needs there:
#   usr/      Debian's own files of yaml-cpp, simdjson, zlib and gloo's headers, laid out as
#             under /usr (their CMake files locate everything relative to that); the shared
#             libraries need only glibc and libstdc++, which the GPU machine has in newer versions
#   opencv/   OpenCV's core, imgproc and imgcodecs (JPEG and PNG) as static libraries with
#             static libjpeg and libpng, built here from Debian's source package (Debian's own
#             imgcodecs pulls in GDAL and ~140 shared libraries, 212 MB); the build is cached
#             in $VITRINE_BUNDLE_CACHE (default ~/.cache/vitrine-gpu-bundle), a rerun reuses it
#   datasets/fashion-mnist   the embedded default's data (dataset-fashion-mnist)
# The folder travels with the working tree in the device's 64 MiB: the script fails when the
# two together would pass 62 MiB.
set -euo pipefail
full=0
if [[ ${1:-} == --full ]]; then
  full=1
  shift
fi
dest=${1:-.gpu}
[[ $dest == /* ]] || dest=$PWD/$dest

need() {  # file, package: fails naming the package to install
  [[ -e $1 ]] || { echo "gpu_bundle: $1 missing (apt-get install $2)" >&2; exit 1; }
}
need /usr/include/CLI/CLI.hpp libcli11-dev
need /usr/src/googletest/CMakeLists.txt googletest
rm -rf "$dest"
mkdir -p "$dest/include"
cp -r /usr/include/CLI "$dest/include/"
# GoogleTest alone (the build turns GoogleMock off): its folder and the top CMakeLists.txt.
mkdir -p "$dest/googletest"
cp /usr/src/googletest/CMakeLists.txt "$dest/googletest/"
cp -r /usr/src/googletest/googletest "$dest/googletest/"

if ((full)); then
  # Debian's files of these packages, under usr/ as under /usr (documentation left out).
  mirror() {
    local pkg
    for pkg in "$@"; do
      dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
        { echo "gpu_bundle: package $pkg missing (tools/setup.sh installs it)" >&2; exit 1; }
      dpkg -L "$pkg" | while read -r path; do
        [[ $path == /usr/include/* || $path == /usr/lib/* ]] || continue
        [[ -d $path && ! -L $path ]] && continue
        mkdir -p "$dest$(dirname "$path")"
        cp -a "$path" "$dest$path"
      done
    done
  }
  mirror libyaml-cpp-dev libyaml-cpp0.7 libsimdjson-dev libsimdjson14 zlib1g-dev libgloo-dev

  need /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz dataset-fashion-mnist
  mkdir -p "$dest/datasets"
  cp -r /usr/share/datasets/fashion-mnist "$dest/datasets/"

  # OpenCV from Debian's source package, with a private apt configuration so that the
  # machine's sources.list stays as it is.
  need /usr/lib/x86_64-linux-gnu/libjpeg.a libjpeg62-turbo-dev
  need /usr/lib/x86_64-linux-gnu/libpng16.a libpng-dev
  cache=${VITRINE_BUNDLE_CACHE:-$HOME/.cache/vitrine-gpu-bundle}
  opencv_install=$cache/opencv-install
  if [[ ! -e $opencv_install/lib/libopencv_imgcodecs.a ]]; then
    apt_dir=$cache/apt
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$cache/src"
    echo "deb-src http://deb.debian.org/debian bookworm main" >"$apt_dir/sources.list"
    apt_options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
      -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
    apt-get "${apt_options[@]}" update >"$cache/apt-update.log" 2>&1 ||
      { tail -5 "$cache/apt-update.log"; exit 1; }
    (cd "$cache/src" && apt-get "${apt_options[@]}" source --download-only opencv \
      >"$cache/apt-source.log" 2>&1) || { tail -5 "$cache/apt-source.log"; exit 1; }
    tarball=$(ls "$cache"/src/opencv_*.orig.tar.xz)
    rm -rf "$cache/opencv-src" && mkdir -p "$cache/opencv-src"
    tar -xJf "$tarball" -C "$cache/opencv-src" --strip-components=1
    # Three modules, static, position-independent (they link into the ops library's
    # neighbours too); AVX2 as the baseline without run-time dispatch (every GPU host has it);
    # every optional dependency off but libjpeg and libpng (Debian's static ones).
    cmake -S "$cache/opencv-src" -B "$cache/opencv-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_INSTALL_PREFIX="$opencv_install" -DBUILD_LIST=core,imgproc,imgcodecs \
      -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DOPENCV_GENERATE_PKGCONFIG=OFF \
      -DCPU_BASELINE=AVX2 -DCPU_DISPATCH= -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF \
      -DBUILD_EXAMPLES=OFF -DBUILD_opencv_apps=OFF -DBUILD_JAVA=OFF -DBUILD_opencv_python3=OFF \
      -DWITH_JPEG=ON -DBUILD_JPEG=OFF -DJPEG_LIBRARY=/usr/lib/x86_64-linux-gnu/libjpeg.a \
      -DWITH_PNG=ON -DBUILD_PNG=OFF -DPNG_LIBRARY=/usr/lib/x86_64-linux-gnu/libpng16.a \
      -DZLIB_LIBRARY=/usr/lib/x86_64-linux-gnu/libz.a -DWITH_TIFF=OFF -DWITH_WEBP=OFF \
      -DWITH_OPENJPEG=OFF -DWITH_JASPER=OFF -DWITH_OPENEXR=OFF -DWITH_GDAL=OFF -DWITH_GDCM=OFF \
      -DWITH_IMGCODEC_HDR=OFF -DWITH_IMGCODEC_SUNRASTER=OFF -DWITH_IMGCODEC_PXM=ON \
      -DWITH_IMGCODEC_PFM=OFF -DWITH_IPP=OFF -DWITH_ITT=OFF -DWITH_TBB=OFF -DWITH_OPENMP=OFF \
      -DWITH_OPENCL=OFF -DWITH_LAPACK=OFF -DWITH_EIGEN=OFF -DWITH_PROTOBUF=OFF -DWITH_QUIRC=OFF \
      -DWITH_ADE=OFF -DWITH_VA=OFF -DWITH_VA_INTEL=OFF -DWITH_GTK=OFF -DWITH_QT=OFF \
      -DWITH_FFMPEG=OFF -DWITH_GSTREAMER=OFF -DWITH_V4L=OFF -DWITH_1394=OFF -DWITH_CUDA=OFF \
      -DWITH_VTK=OFF -DWITH_OPENVX=OFF -DWITH_CAROTENE=OFF -DWITH_DSHOW=OFF -DWITH_MSMF=OFF \
      >"$cache/opencv-configure.log" 2>&1 || { tail -30 "$cache/opencv-configure.log"; exit 1; }
    echo "gpu_bundle: building OpenCV (core, imgproc, imgcodecs), a few minutes"
    cmake --build "$cache/opencv-build" --target install >"$cache/opencv-build.log" 2>&1 ||
      { grep -A5 -m3 "error" "$cache/opencv-build.log"; exit 1; }
  fi
  mkdir -p "$dest/opencv/lib"
  cp -r "$opencv_install/include" "$dest/opencv/"
  cp "$opencv_install"/lib/libopencv_{imgcodecs,imgproc,core}.a "$dest/opencv/lib/"
  cp /usr/lib/x86_64-linux-gnu/libjpeg.a /usr/lib/x86_64-linux-gnu/libpng16.a "$dest/opencv/lib/"
  strip --strip-debug "$dest"/opencv/lib/*.a
fi

size_kb=$(du -sk "$dest" | cut -f1)
tree_kb=$(git ls-files -z 2>/dev/null | du --files0-from=- -ck 2>/dev/null | tail -1 | cut -f1)
tree_kb=${tree_kb:-4096}
echo "gpu_bundle: $((size_kb / 1024)) MiB in $dest (+ $((tree_kb / 1024)) MiB of working tree)"
if ((size_kb + tree_kb > 62 * 1024)); then
  echo "gpu_bundle: over 62 MiB with the working tree: it would not travel in 64 MiB" >&2
  exit 1
fi
