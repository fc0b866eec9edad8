#include "data/dense/coco_json.h"

#include <simdjson.h>

#include <cstdio>
#include <fstream>

namespace vitrine::data {
namespace {

using simdjson::ondemand::array;
using simdjson::ondemand::object;
using simdjson::ondemand::value;

double number(value v) {
  // Integers and floats alike.
  double d;
  if (v.get_double().get(d) == simdjson::SUCCESS) return d;
  int64_t i;
  if (v.get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  throw CocoFormatError("expected a number");
}

int64_t integer(value v) {
  int64_t i;
  if (v.get_int64().get(i) == simdjson::SUCCESS) return i;
  double d;
  if (v.get_double().get(d) == simdjson::SUCCESS &&
      d == static_cast<double>(static_cast<int64_t>(d)))
    return static_cast<int64_t>(d);
  throw CocoFormatError("expected an integer");
}

std::array<double, 4> box(value v) {
  std::array<double, 4> b{};
  size_t n = 0;
  for (auto x : v.get_array()) {
    if (n == 4) throw CocoFormatError("a bbox has more than 4 numbers");
    b[n++] = number(x.value());
  }
  if (n != 4) throw CocoFormatError("a bbox has fewer than 4 numbers");
  return b;
}

CocoSegmentation segmentation(value v) {
  CocoSegmentation s;
  simdjson::ondemand::json_type type = v.type();
  if (type == simdjson::ondemand::json_type::array) {
    for (auto poly : v.get_array()) {
      std::vector<double> points;
      for (auto x : poly.get_array()) points.push_back(number(x.value()));
      s.polygons.push_back(std::move(points));
    }
  } else if (type == simdjson::ondemand::json_type::object) {
    for (auto field : v.get_object()) {
      const std::string_view key = field.unescaped_key();
      if (key == "size") {
        size_t n = 0;
        for (auto x : field.value().get_array())
          if (n < 2) s.rle_size[n++] = integer(x.value());
      } else if (key == "counts") {
        value counts = field.value();
        if (counts.type() == simdjson::ondemand::json_type::string)
          s.rle_string = std::string(std::string_view(counts.get_string()));
        else
          for (auto x : counts.get_array()) s.rle_counts.push_back(integer(x.value()));
      }
    }
    if (s.rle_size[0] <= 0 || s.rle_size[1] <= 0)
      throw CocoFormatError("an RLE segmentation lacks its size");
  }
  return s;
}

template <typename Fn>
void for_each_in(value v, const char* what, Fn&& fn) {
  if (v.type() != simdjson::ondemand::json_type::array)
    throw CocoFormatError(std::string("'") + what + "' is not a list");
  size_t index = 0;
  for (auto item : v.get_array()) {
    try {
      fn(item.get_object().value());
    } catch (const CocoFormatError& e) {
      throw CocoFormatError(std::string(what) + "[" + std::to_string(index) + "]: " + e.what());
    }
    ++index;
  }
}

simdjson::padded_string read_file(const std::string& path) {
  simdjson::padded_string json;
  if (simdjson::padded_string::load(path).get(json) != simdjson::SUCCESS)
    throw CocoFormatError(path + ": cannot be read");
  return json;
}

}  // namespace

std::vector<CocoGroundTruth> CocoDataset::ground_truth() const {
  std::vector<CocoGroundTruth> out;
  for (const auto& a : annotations) {
    CocoGroundTruth g;
    g.id = a.id;
    g.image_id = a.image_id;
    g.category_id = a.category_id;
    g.bbox = a.bbox;
    g.area = a.area;
    g.iscrowd = a.iscrowd;
    out.push_back(g);
  }
  return out;
}

CocoDataset load_coco_json(const std::string& path) {
  const simdjson::padded_string json = read_file(path);
  simdjson::ondemand::parser parser;
  CocoDataset data;
  bool saw_images = false, saw_annotations = false;
  try {
    simdjson::ondemand::document doc = parser.iterate(json);
    for (auto field : doc.get_object()) {
      const std::string_view key = field.unescaped_key();
      if (key == "images") {
        saw_images = true;
        for_each_in(field.value(), "images", [&](object o) {
          CocoImage im;
          for (auto f : o) {
            const std::string_view k = f.unescaped_key();
            if (k == "id")
              im.id = integer(f.value());
            else if (k == "file_name")
              im.file_name = std::string(std::string_view(f.value().get_string()));
            else if (k == "width")
              im.width = integer(f.value());
            else if (k == "height")
              im.height = integer(f.value());
          }
          data.images.push_back(std::move(im));
        });
      } else if (key == "categories") {
        for_each_in(field.value(), "categories", [&](object o) {
          CocoCategory c;
          for (auto f : o) {
            const std::string_view k = f.unescaped_key();
            if (k == "id")
              c.id = integer(f.value());
            else if (k == "name")
              c.name = std::string(std::string_view(f.value().get_string()));
          }
          data.categories.push_back(std::move(c));
        });
      } else if (key == "annotations") {
        saw_annotations = true;
        for_each_in(field.value(), "annotations", [&](object o) {
          CocoAnnotation a;
          bool has_bbox = false;
          for (auto f : o) {
            const std::string_view k = f.unescaped_key();
            if (k == "id")
              a.id = integer(f.value());
            else if (k == "image_id")
              a.image_id = integer(f.value());
            else if (k == "category_id")
              a.category_id = integer(f.value());
            else if (k == "bbox")
              a.bbox = box(f.value()), has_bbox = true;
            else if (k == "area")
              a.area = number(f.value());
            else if (k == "iscrowd")
              a.iscrowd = integer(f.value()) != 0;
            else if (k == "segmentation")
              a.segmentation = segmentation(f.value());
          }
          if (!has_bbox)
            throw CocoFormatError("annotation " + std::to_string(a.id) + " has no bbox");
          data.annotations.push_back(std::move(a));
        });
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    throw CocoFormatError(path + ": not valid COCO JSON (" + e.what() + ")");
  } catch (const CocoFormatError& e) {
    throw CocoFormatError(path + ": " + e.what());
  }
  if (!saw_images || !saw_annotations)
    throw CocoFormatError(path + ": a COCO annotation file needs 'images' and 'annotations' lists");
  return data;
}

std::vector<CocoDetection> load_coco_results(const std::string& path) {
  const simdjson::padded_string json = read_file(path);
  simdjson::ondemand::parser parser;
  std::vector<CocoDetection> out;
  try {
    simdjson::ondemand::document doc = parser.iterate(json);
    size_t index = 0;
    for (auto item : doc.get_array()) {
      CocoDetection d;
      bool has_score = false, has_bbox = false;
      try {
        for (auto f : item.get_object()) {
          const std::string_view k = f.unescaped_key();
          if (k == "image_id")
            d.image_id = integer(f.value());
          else if (k == "category_id")
            d.category_id = integer(f.value());
          else if (k == "bbox")
            d.bbox = box(f.value()), has_bbox = true;
          else if (k == "score")
            d.score = number(f.value()), has_score = true;
        }
        if (!has_bbox || !has_score) throw CocoFormatError("needs bbox and score");
      } catch (const CocoFormatError& e) {
        throw CocoFormatError("result " + std::to_string(index) + ": " + e.what());
      }
      out.push_back(d);
      ++index;
    }
  } catch (const simdjson::simdjson_error& e) {
    throw CocoFormatError(path + ": not a valid COCO results list (" + e.what() + ")");
  } catch (const CocoFormatError& e) {
    throw CocoFormatError(path + ": " + e.what());
  }
  return out;
}

void write_coco_results(const std::string& path, const std::vector<CocoDetection>& detections) {
  std::ofstream out(path);
  if (!out) throw CocoFormatError("cannot write " + path);
  out << "[";
  char buffer[256];
  for (size_t i = 0; i < detections.size(); ++i) {
    const CocoDetection& d = detections[i];
    std::snprintf(buffer, sizeof(buffer),
                  "%s{\"image_id\": %lld, \"category_id\": %lld, \"bbox\": [%.4f, %.4f, %.4f, "
                  "%.4f], \"score\": %.6g}",
                  i ? ",\n " : "", static_cast<long long>(d.image_id),
                  static_cast<long long>(d.category_id), d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3],
                  d.score);
    out << buffer;
  }
  out << "]\n";
  if (!out) throw CocoFormatError("cannot write " + path);
}

}  // namespace vitrine::data
