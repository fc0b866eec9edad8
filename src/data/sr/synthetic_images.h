// Deterministic synthetic "natural-like" RGB images for SR fixtures: smooth colour gradients,
// anti-aliased shapes, striped and checkered textures at several frequencies and text — edges
// and textures for a super-resolution model to learn, without shipping image files.
#pragma once

#include <cstdint>
#include <opencv2/core/mat.hpp>

namespace vitrine::data {

// A size x size CV_8UC3 (RGB) image, the same for the same (seed, index).
cv::Mat synthetic_sr_image(int size, uint64_t seed, int64_t index);

}  // namespace vitrine::data
