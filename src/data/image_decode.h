// Reading an image file into 8-bit pixels with OpenCV, with errors that name the file.
#pragma once

#include <opencv2/core/mat.hpp>
#include <string>

namespace vitrine::data {

// Reads and decodes `path` to RGB (channels = 3) or grey (channels = 1). Throws DataError
// naming the path and the reason (missing, empty, not a decodable image).
cv::Mat decode_image_file(const std::string& path, int channels);

// Whether the file name has one of the image extensions torchvision's ImageFolder accepts
// (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, any case).
bool has_image_extension(const std::string& path);

}  // namespace vitrine::data
