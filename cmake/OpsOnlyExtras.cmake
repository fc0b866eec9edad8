# What an ops-only build (-DVITRINE_OPS_ONLY=ON, e.g. on a GPU box with a Python PyTorch and
# nothing else) can add beside the ops library: the standalone ops benchmark when CLI11 is
# found, and the GPU tests when GoogleTest is. Either may come from VITRINE_BUNDLE_DIR, a
# folder made by tools/gpu_bundle.sh from this machine's Debian packages (CLI11's headers
# under include/, GoogleTest's sources under googletest/), for machines that lack them.
set(VITRINE_BUNDLE_DIR "" CACHE PATH "Folder with include/CLI and googletest/ (tools/gpu_bundle.sh)")

find_package(CLI11 QUIET)
if(NOT TARGET CLI11::CLI11)
  find_path(VITRINE_CLI11_INCLUDE CLI/CLI.hpp HINTS ${VITRINE_BUNDLE_DIR}/include)
  if(VITRINE_CLI11_INCLUDE)
    add_library(CLI11::CLI11 INTERFACE IMPORTED)
    set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
      ${VITRINE_CLI11_INCLUDE})
  endif()
endif()
if(TARGET CLI11::CLI11)
  add_executable(vitrine-bench-ops src/bench/bench_ops_main.cpp src/bench/ops_bench_options.cpp)
  # Executables compile as PIE, the shared torch header as PIC: they do not reuse it.
  target_link_libraries(vitrine-bench-ops PRIVATE vitrine_bench vitrine_runtime CLI11::CLI11)
  vitrine_link_ops(vitrine-bench-ops)
else()
  message(STATUS "vitrine: CLI11 not found, vitrine-bench-ops not built")
endif()

if(VITRINE_TESTS)
  if(VITRINE_BUNDLE_DIR AND EXISTS ${VITRINE_BUNDLE_DIR}/googletest/CMakeLists.txt)
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
    add_subdirectory(${VITRINE_BUNDLE_DIR}/googletest ${CMAKE_BINARY_DIR}/googletest
      EXCLUDE_FROM_ALL)
  else()
    find_package(GTest QUIET)
  endif()
  if(TARGET GTest::gtest_main)
    include(GoogleTest)
    enable_testing()
    add_executable(vitrine_gpu_tests tests/attention/cuda/na_cuda_test.cpp)
    target_include_directories(vitrine_gpu_tests PRIVATE tests src)
    target_link_libraries(vitrine_gpu_tests PRIVATE vitrine_warnings torch GTest::gtest_main)
    vitrine_link_ops(vitrine_gpu_tests)
    gtest_discover_tests(vitrine_gpu_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS gpu)
  else()
    message(STATUS "vitrine: GoogleTest not found, vitrine_gpu_tests not built")
  endif()
endif()
