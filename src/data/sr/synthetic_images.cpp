#include "data/sr/synthetic_images.h"

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "data/random.h"

namespace vitrine::data {
namespace {

cv::Scalar random_colour(Rng& rng) {
  return cv::Scalar(rng.uniform(20, 235), rng.uniform(20, 235), rng.uniform(20, 235));
}

}  // namespace

cv::Mat synthetic_sr_image(int size, uint64_t seed, int64_t index) {
  Rng rng(mix_seed(seed, static_cast<uint64_t>(index)));
  // Background: a bilinear blend of four corner colours.
  cv::Mat corners(2, 2, CV_8UC3);
  for (int i = 0; i < 4; ++i) {
    const cv::Scalar c = random_colour(rng);
    corners.at<cv::Vec3b>(i / 2, i % 2) = cv::Vec3b(c[0], c[1], c[2]);
  }
  cv::Mat image;
  cv::resize(corners, image, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);
  // Textured rectangles: stripes (any angle) or checks, at several periods.
  const int textures = 2 + static_cast<int>(rng.randint(0, 2));
  for (int t = 0; t < textures; ++t) {
    const int w = static_cast<int>(rng.randint(size / 6, size / 2));
    const int h = static_cast<int>(rng.randint(size / 6, size / 2));
    const int x0 = static_cast<int>(rng.randint(0, size - w)),
              y0 = static_cast<int>(rng.randint(0, size - h));
    const double period = rng.uniform(3.0, 14.0), angle = rng.uniform(0, M_PI);
    const bool checks = rng.bernoulli(0.3);
    const cv::Scalar a = random_colour(rng), b = random_colour(rng);
    for (int y = y0; y < y0 + h; ++y)
      for (int x = x0; x < x0 + w; ++x) {
        double v;
        if (checks)
          v = ((static_cast<int>(x / period) + static_cast<int>(y / period)) % 2) ? 1.0 : 0.0;
        else
          v = 0.5 + 0.5 * std::sin(2 * M_PI * (x * std::cos(angle) + y * std::sin(angle)) / period);
        cv::Vec3b& p = image.at<cv::Vec3b>(y, x);
        for (int c = 0; c < 3; ++c) p[c] = cv::saturate_cast<uint8_t>(a[c] * v + b[c] * (1 - v));
      }
  }
  // Anti-aliased shapes and lines.
  const int shapes = 4 + static_cast<int>(rng.randint(0, 4));
  for (int s = 0; s < shapes; ++s) {
    const cv::Point centre(static_cast<int>(rng.randint(0, size - 1)),
                           static_cast<int>(rng.randint(0, size - 1)));
    const cv::Scalar colour = random_colour(rng);
    switch (rng.randint(0, 2)) {
      case 0:
        cv::circle(image, centre, static_cast<int>(rng.randint(size / 20 + 1, size / 5)), colour,
                   rng.bernoulli(0.5) ? -1 : 2, cv::LINE_AA);
        break;
      case 1: {
        const cv::Point other(static_cast<int>(rng.randint(0, size - 1)),
                              static_cast<int>(rng.randint(0, size - 1)));
        cv::line(image, centre, other, colour, static_cast<int>(rng.randint(1, 3)), cv::LINE_AA);
        break;
      }
      default:
        cv::ellipse(image, centre,
                    cv::Size(static_cast<int>(rng.randint(size / 20 + 1, size / 4)),
                             static_cast<int>(rng.randint(size / 20 + 1, size / 6))),
                    rng.uniform(0, 180), 0, 360, colour, -1, cv::LINE_AA);
    }
  }
  // A word of text.
  const char* words[] = {"vitrine", "ABC", "x4", "SR", "zoo"};
  cv::putText(image, words[rng.randint(0, 4)],
              cv::Point(static_cast<int>(rng.randint(0, size / 2)),
                        static_cast<int>(rng.randint(size / 4, size - 4))),
              cv::FONT_HERSHEY_SIMPLEX, rng.uniform(0.4, 1.2) * size / 128.0, random_colour(rng),
              static_cast<int>(rng.randint(1, 2)), cv::LINE_AA);
  return image;
}

}  // namespace vitrine::data
