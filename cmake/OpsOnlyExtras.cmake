# What an ops-only build (-DVITRINE_OPS_ONLY=ON, e.g. on a GPU box with a Python PyTorch and
# nothing else) can add beside the ops library: the standalone ops benchmark when CLI11 is
# found, and the GPU tests when GoogleTest is. Either may come from VITRINE_BUNDLE_DIR
# (cmake/Bundle.cmake), for machines that lack them.
vitrine_find_cli11()
if(TARGET CLI11::CLI11)
  add_executable(vitrine-bench-ops src/bench/bench_ops_main.cpp src/bench/ops_bench_options.cpp)
  # Executables compile as PIE, the shared torch header as PIC: they do not reuse it.
  target_link_libraries(vitrine-bench-ops PRIVATE vitrine_bench vitrine_runtime CLI11::CLI11)
  vitrine_link_ops(vitrine-bench-ops)
else()
  message(STATUS "vitrine: CLI11 not found, vitrine-bench-ops not built")
endif()

if(VITRINE_TESTS)
  vitrine_find_gtest()
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
