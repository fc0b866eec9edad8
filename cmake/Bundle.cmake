# The folder tools/gpu_bundle.sh makes (VITRINE_BUNDLE_DIR), for machines that have a libtorch
# but not Debian's libraries (the GPU machine): what it holds is used where the machine's own
# packages are missing. Included before the project's find_package calls.
#   include/CLI, googletest/   CLI11's headers, GoogleTest's sources (both builds)
#   usr/                       yaml-cpp, simdjson, zlib, gloo's headers as under /usr (--full)
#   opencv/                    static OpenCV core/imgproc/imgcodecs with libjpeg, libpng (--full)
set(VITRINE_BUNDLE_DIR "" CACHE PATH "Folder made by tools/gpu_bundle.sh (empty: none)")

if(VITRINE_BUNDLE_DIR AND NOT EXISTS ${VITRINE_BUNDLE_DIR})
  message(FATAL_ERROR "VITRINE_BUNDLE_DIR ${VITRINE_BUNDLE_DIR} does not exist: run tools/gpu_bundle.sh")
endif()

if(VITRINE_BUNDLE_DIR AND EXISTS ${VITRINE_BUNDLE_DIR}/usr)
  # Searched before the system: yaml-cpp's and simdjson's CMake files, zlib for FindZLIB.
  list(PREPEND CMAKE_PREFIX_PATH ${VITRINE_BUNDLE_DIR}/usr)
  set(ZLIB_USE_STATIC_LIBS ON)  # the bundle carries libz.a, not zlib's shared library
endif()

# CLI11: the machine's package, else the bundle's headers.
function(vitrine_find_cli11)
  find_package(CLI11 QUIET)
  if(NOT TARGET CLI11::CLI11)
    find_path(VITRINE_CLI11_INCLUDE CLI/CLI.hpp HINTS ${VITRINE_BUNDLE_DIR}/include)
    if(VITRINE_CLI11_INCLUDE)
      add_library(CLI11::CLI11 INTERFACE IMPORTED GLOBAL)
      set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
        ${VITRINE_CLI11_INCLUDE})
    endif()
  endif()
endfunction()

# GoogleTest: built from the bundle's sources when it has them (the GPU machine has no
# package), else the machine's package. Defines GTest::gtest_main when either exists.
macro(vitrine_find_gtest)
  if(VITRINE_BUNDLE_DIR AND EXISTS ${VITRINE_BUNDLE_DIR}/googletest/CMakeLists.txt)
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
    add_subdirectory(${VITRINE_BUNDLE_DIR}/googletest ${CMAKE_BINARY_DIR}/googletest
      EXCLUDE_FROM_ALL)
  else()
    find_package(GTest QUIET)
  endif()
endmacro()

# OpenCV: the bundle's static build, when present, as OpenCV_INCLUDE_DIRS / OpenCV_LIBS.
set(VITRINE_BUNDLE_OPENCV OFF)
if(NOT VITRINE_OPS_ONLY AND VITRINE_BUNDLE_DIR
   AND EXISTS ${VITRINE_BUNDLE_DIR}/opencv/lib/libopencv_core.a)
  set(VITRINE_BUNDLE_OPENCV ON)
  set(_cv ${VITRINE_BUNDLE_DIR}/opencv/lib)
  set(OpenCV_INCLUDE_DIRS ${VITRINE_BUNDLE_DIR}/opencv/include/opencv4)
  # Static archives in dependency order, then what they need from the system.
  set(OpenCV_LIBS ${_cv}/libopencv_imgcodecs.a ${_cv}/libopencv_imgproc.a ${_cv}/libopencv_core.a
    ${_cv}/libjpeg.a ${_cv}/libpng16.a ${VITRINE_BUNDLE_DIR}/usr/lib/x86_64-linux-gnu/libz.a
    ${CMAKE_DL_LIBS} pthread)
  message(STATUS "vitrine: OpenCV from the bundle (${VITRINE_BUNDLE_DIR}/opencv, static)")
endif()

# gloo's headers, which c10d's ProcessGroupGloo.hpp includes: libtorch's own when it ships
# them, else the bundle's (Debian's, for the gloo that libtorch links in).
function(vitrine_gloo_headers target)
  find_path(VITRINE_GLOO_IN_TORCH gloo/config.h HINTS ${TORCH_INCLUDE_DIRS} NO_DEFAULT_PATH)
  if(NOT VITRINE_GLOO_IN_TORCH AND VITRINE_BUNDLE_DIR
     AND EXISTS ${VITRINE_BUNDLE_DIR}/usr/include/gloo/config.h)
    target_include_directories(${target} SYSTEM PRIVATE ${VITRINE_BUNDLE_DIR}/usr/include)
  endif()
endfunction()
