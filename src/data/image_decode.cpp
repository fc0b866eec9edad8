#include "data/image_decode.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "data/dataset.h"

namespace vitrine::data {

cv::Mat decode_image_file(const std::string& path, int channels) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (bytes.empty()) throw DataError(path + ": empty file");
  cv::Mat decoded;
  try {
    decoded = cv::imdecode(bytes, channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw DataError(path + ": cannot decode (" + e.msg + ")");
  }
  if (decoded.empty())
    throw DataError(path + ": not a decodable image (" + std::to_string(bytes.size()) + " bytes)");
  if (decoded.depth() != CV_8U) decoded.convertTo(decoded, CV_8U);
  if (channels == 3) cv::cvtColor(decoded, decoded, cv::COLOR_BGR2RGB);
  return decoded;
}

bool has_image_extension(const std::string& path) {
  static const char* const kExtensions[] = {".jpg", ".jpeg", ".png",  ".ppm", ".bmp",
                                            ".pgm", ".tif",  ".tiff", ".webp"};
  std::string lower = path;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* ext : kExtensions) {
    const size_t n = std::strlen(ext);
    if (lower.size() > n && lower.compare(lower.size() - n, n, ext) == 0) return true;
  }
  return false;
}

}  // namespace vitrine::data
