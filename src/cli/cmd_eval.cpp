// `vitrine eval`: a trained checkpoint evaluated by its task (classification, super-resolution
// benchmark sets, COCO detection, ADE20K segmentation), with results files as timm writes them.
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <unordered_set>

#include "cli/commands.h"
#include "cli/results_file.h"
#include "config/job.h"
#include "config/resolve.h"
#include "config/yaml_io.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/dense/coco_json.h"
#include "data/loader_factory.h"
#include "evaluation/coco_eval.h"
#include "models/registry.h"
#include "train/checkpoint.h"
#include "train/classification_task.h"
#include "train/detection_task.h"
#include "train/progress.h"
#include "train/run_log.h"
#include "train/segmentation_task.h"
#include "train/sr_task.h"
#include "train/task_factory.h"
#include "train/trained_model.h"

namespace vitrine::cli {
namespace {

// The task's evaluation over `loader`, with its progress on stdout (a bar on a terminal, a
// line every tenth of the batches otherwise).
train::MetricList evaluate_with_progress(train::Task& task, models::Model& model,
                                         data::DataLoader& loader, const at::Device& device,
                                         const std::string& label) {
  train::Progress bar(std::max<int64_t>(1, loader.batches_per_epoch() / 10));
  loader.on_batch(train::batch_progress(bar, label));
  train::MetricList metrics = task.evaluate(model, loader, device);
  bar.finish();
  return metrics;
}

// One evaluation's fields as "name: value" lines, and in the results file when asked for.
int report(const ResultRow& fields, const EvalOptions& eval) {
  for (const auto& f : fields) std::cout << f.name << ": " << f.text << "\n";
  std::cout.flush();
  if (!eval.results_file.empty()) write_results(eval.results_file, {fields}, /*as_table=*/false);
  return kExitOk;
}

// An SR output [C, H, W] in [0, 1] as an 8-bit PNG (BasicSR's tensor2img rounding).
void write_png(const std::filesystem::path& path, const at::Tensor& image) {
  const at::Tensor hwc =
      (image.clamp(0, 1) * 255.0).round().to(at::kByte).permute({1, 2, 0}).contiguous();
  cv::Mat rgb(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)),
              CV_8UC(static_cast<int>(hwc.size(2))), hwc.data_ptr<uint8_t>());
  cv::Mat out;
  if (rgb.channels() == 3)
    cv::cvtColor(rgb, out, cv::COLOR_RGB2BGR);
  else
    out = rgb;
  if (!cv::imwrite(path.string(), out)) throw std::runtime_error("cannot write " + path.string());
}

// A predicted label map [H, W] (class indices) as a PNG in the dataset's label ids: + 1 when
// the data reduced label 0 ("other", ignored) away, as mmseg's ADE20K format_only writes them
// for the benchmark server; 16-bit when a class id does not fit 8 bits.
void write_label_png(const std::filesystem::path& path, const at::Tensor& prediction,
                     int64_t offset) {
  const at::Tensor ids = prediction.to(at::kLong) + offset;
  const bool wide = ids.numel() > 0 && ids.max().item<int64_t>() > 255;
  const at::Tensor pixels = ids.to(wide ? at::kInt : at::kByte).contiguous();
  cv::Mat image(static_cast<int>(pixels.size(0)), static_cast<int>(pixels.size(1)),
                wide ? CV_32S : CV_8U, pixels.data_ptr());
  cv::Mat out = image;
  if (wide) image.convertTo(out, CV_16U);
  if (!cv::imwrite(path.string(), out)) throw std::runtime_error("cannot write " + path.string());
}

// Super-resolution: the paper table — each benchmark set in data.eval_sets when
// data.benchmark_root is set (BasicSR's layout: <root>/<set>/HR, <root>/<set>/LR_bicubic/X<s>),
// else the validation split — with PSNR/SSIM on Y by BasicSR's protocol.
int evaluate_sr(const config::ConfigView& root, train::SrTask& task, models::Model& model,
                const at::Device& device, const EvalOptions& eval, const std::string& model_name) {
  const config::ConfigView data = root.child("data");
  const int64_t scale = data.get_int("scale");
  struct Set {
    std::string name, hr, lr;
  };
  std::vector<Set> sets;
  const config::Node* names = data.node().find("eval_sets");
  const config::Node* bench_root = data.node().find("benchmark_root");
  if (bench_root && !bench_root->is_null()) {
    if (!names || !names->is_list() || names->as_list().empty())
      throw ConfigError("data.benchmark_root is set but data.eval_sets lists no set");
    const std::string base = bench_root->as_string();
    for (const auto& n : names->as_list())
      sets.push_back({n.as_string(), base + "/" + n.as_string() + "/HR",
                      base + "/" + n.as_string() + "/LR_bicubic/X" + std::to_string(scale)});
  } else {
    sets.push_back({data.get_string("name"), data.get_string("val_hr"),
                    data.get_optional_string("val_lr").value_or("")});
  }
  std::vector<ResultRow> rows;
  std::printf("%-12s %7s %9s %8s   (%s x%lld, Y channel, border %lld)\n", "set", "images", "PSNR",
              "SSIM", model_name.c_str(), static_cast<long long>(scale),
              static_cast<long long>(scale));
  for (const Set& set : sets) {
    config::Node node = data.node();
    node.set("val_hr", set.hr);
    node.set("val_lr", set.lr.empty() ? config::Node() : config::Node(set.lr));
    auto loader = data::make_loader(config::ConfigView(node, "data"), false,
                                    static_cast<uint64_t>(root.get_int("seed")));
    if (!eval.save_images.empty()) {
      const std::filesystem::path out = std::filesystem::path(eval.save_images) / set.name;
      std::filesystem::create_directories(out);
      task.on_output([out](const std::string& name, const at::Tensor& sr) {
        write_png(out / (name + ".png"), sr);
      });
    }
    const auto start = std::chrono::steady_clock::now();
    const train::MetricList metrics =
        evaluate_with_progress(task, model, *loader, device, set.name);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double psnr = metrics[1].second, ssim = metrics[2].second;
    const size_t images = task.last_scores().size();
    std::printf("%-12s %7zu %9.2f %8.4f\n", set.name.c_str(), images, psnr, ssim);
    if (metrics.size() > 3)  // task.bicubic_baseline
      std::printf("%-12s %7s %9.2f %8.4f\n", "  (bicubic)", "", metrics[3].second,
                  metrics[4].second);
    std::fflush(stdout);
    rows.push_back({{"model", model_name, false},
                    {"set", set.name, false},
                    {"scale", std::to_string(scale), true},
                    {"images", std::to_string(images), true},
                    {"psnr", format_number(psnr, 4), true},
                    {"ssim", format_number(ssim, 4), true},
                    {"seconds", format_number(seconds, 2), true}});
    for (size_t i = 3; i < metrics.size(); ++i)
      rows.back().push_back({metrics[i].first, format_number(metrics[i].second, 4), true});
  }
  if (!eval.results_file.empty()) write_results(eval.results_file, rows, /*as_table=*/true);
  return kExitOk;
}

// Detection and segmentation: the task's metrics over the val split, then `add_fields`
// (called after the evaluation) and the throughput.
int evaluate_dense(const config::ConfigView& root, train::Task& task, models::Model& model,
                   const at::Device& device, const EvalOptions& eval, const std::string& model_name,
                   int digits, const std::function<void(ResultRow&)>& add_fields) {
  auto loader =
      data::make_loader(root.child("data"), false, static_cast<uint64_t>(root.get_int("seed")));
  const auto start = std::chrono::steady_clock::now();
  const train::MetricList metrics = evaluate_with_progress(task, model, *loader, device, "eval");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ResultRow fields = {{"model", model_name, false}};
  for (const auto& [key, value] : metrics)
    fields.push_back({key, format_number(value, digits), true});
  add_fields(fields);
  fields.push_back({"images", std::to_string(loader->samples_per_epoch()), true});
  fields.push_back({"images_per_second",
                    format_number(loader->samples_per_epoch() / std::max(seconds, 1e-9), 2), true});
  fields.push_back({"checkpoint", eval.checkpoint, false});
  return report(fields, eval);
}

// Classification: timm validate.py's result fields, plus loss and throughput.
int evaluate_classification(const config::ConfigView& root, train::ClassificationTask& task,
                            models::Model& model, const at::Device& device, const EvalOptions& eval,
                            const std::string& model_name) {
  const config::ConfigView data = root.child("data");
  auto loader = data::make_loader(data, false, static_cast<uint64_t>(root.get_int("seed")));
  const auto start = std::chrono::steady_clock::now();
  const train::MetricList metrics = evaluate_with_progress(task, model, *loader, device, "eval");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ResultRow fields = {{"model", model_name, false}};
  for (const auto& [key, value] : metrics) {
    fields.push_back({key, format_number(value, key == "loss" ? 4 : 3), true});
    if (key.rfind("top", 0) == 0)
      fields.push_back({key + "_err", format_number(100.0 - value, 3), true});
  }
  const double param_count = static_cast<double>(models::count_parameters(model)) / 1e6;
  fields.push_back({"param_count", format_number(param_count, 2), true});
  fields.push_back({"img_size", std::to_string(data.get_int("img_size")), true});
  fields.push_back({"crop_pct", format_number(data.get_float("crop_pct"), 3), true});
  fields.push_back({"interpolation", data.get_string("interpolation"), false});
  // What the top-1 was scored on: one view, or the mean logits with the mirror image.
  fields.push_back({"tta", task.hflip_tta() ? "hflip" : "none", false});
  fields.push_back({"samples", std::to_string(loader->samples_per_epoch()), true});
  fields.push_back({"images_per_second",
                    format_number(loader->samples_per_epoch() / std::max(seconds, 1e-9), 1), true});
  fields.push_back({"checkpoint", eval.checkpoint, false});
  fields.push_back({"ema", eval.use_ema ? "true" : "false", true});
  return report(fields, eval);
}

// pycocotools' recipe for a results file: COCO(annotations).loadRes(results), then COCOeval
// over every image and category of the annotation file; the 12-line summary and mmdet's
// metric names. As loadRes, results for an image the annotations do not hold are refused.
int score_coco_results(const EvalOptions& eval, const std::vector<std::string>& overrides) {
  if (eval.coco_results.empty() || eval.coco_annotations.empty())
    throw UsageError(
        "scoring a results file needs both --coco-results FILE and "
        "--coco-annotations FILE");
  if (!eval.checkpoint.empty() || !overrides.empty())
    throw UsageError("--coco-results scores a file; it takes no checkpoint and no overrides");
  for (const std::string* path : {&eval.coco_results, &eval.coco_annotations})
    if (!std::filesystem::is_regular_file(*path)) throw data::MissingDataError("no file " + *path);
  const data::CocoDataset dataset = data::load_coco_json(eval.coco_annotations);
  const std::vector<data::CocoDetection> detections = data::load_coco_results(eval.coco_results);
  std::vector<int64_t> image_ids, category_ids;
  for (const auto& image : dataset.images) image_ids.push_back(image.id);
  for (const auto& category : dataset.categories) category_ids.push_back(category.id);
  const std::unordered_set<int64_t> known_images(image_ids.begin(), image_ids.end());
  for (const auto& d : detections)
    if (!known_images.count(d.image_id))
      throw UsageError(eval.coco_results + ": image_id " + std::to_string(d.image_id) +
                       " is not an image of " + eval.coco_annotations +
                       " (results do not correspond to this annotation file)");
  const evaluation::CocoEvalResult result =
      evaluation::coco_evaluate_bbox(dataset.ground_truth(), detections, image_ids, category_ids);
  std::cout << result.summary;
  const auto& s = result.stats;
  ResultRow fields = {{"results", eval.coco_results, false},
                      {"annotations", eval.coco_annotations, false}};
  const char* names[] = {"bbox_mAP",   "bbox_mAP_50", "bbox_mAP_75",
                         "bbox_mAP_s", "bbox_mAP_m",  "bbox_mAP_l"};
  for (int i = 0; i < 6; ++i) fields.push_back({names[i], format_number(s[i], 3), true});
  fields.push_back({"images", std::to_string(image_ids.size()), true});
  fields.push_back({"detections", std::to_string(detections.size()), true});
  return report(fields, eval);
}

}  // namespace

int run_eval(const HydraFlags& flags, const EvalOptions& given) {
  // `checkpoint=` and `use_ema=` are eval's own arguments, not config overrides.
  EvalOptions eval = given;
  std::vector<std::string> overrides;
  for (const auto& text : flags.request.overrides) {
    if (text.rfind("checkpoint=", 0) == 0)
      eval.checkpoint = text.substr(11);
    else if (text.rfind("use_ema=", 0) == 0)
      eval.use_ema = text.substr(8) == "true";
    else
      overrides.push_back(text);
  }
  if (!eval.coco_results.empty() || !eval.coco_annotations.empty())
    return score_coco_results(eval, overrides);
  if (!flags.cfg.empty()) {
    HydraFlags config_only = flags;
    config_only.request.overrides = overrides;
    print_config(config_only, flags.cfg);
    return kExitOk;
  }
  // The run as it was trained: model, data and task from the checkpoint's saved config, with
  // the command line on top (a value override changes them, a group selection replaces them).
  // Without a checkpoint, the composed model with its model.pretrained weights.
  std::optional<train::CheckpointContents> contents;
  if (!eval.checkpoint.empty()) contents = train::read_checkpoint(eval.checkpoint);
  config::ConfigRepository repo = config::make_repository(flags.request.config_dirs);
  config::ComposeOptions options;
  options.config_name = flags.request.config_name;
  options.job_name = "eval";
  if (contents && !contents->config_yaml.empty()) {
    const config::Node trained = config::load_yaml(contents->config_yaml, eval.checkpoint);
    for (const char* package : {"model", "data", "task"})
      if (const config::Node* node = trained.find(package))
        options.saved_packages.emplace_back(package, *node);
  }
  const config::Node resolved =
      config::Resolver(config::compose(repo, config::parse_overrides(overrides), options).config)
          .resolve_all();
  config::require_complete(resolved);
  const config::Node composed = config::job_config(resolved);
  const config::ConfigView root(composed, "");
  configure_runtime(static_cast<int>(root.get_int("threads")));
  const at::Device device = parse_device(root.get_string("device"));

  const config::Node& model_node = *composed.find("model");
  models::ModelPtr model_ptr;
  std::string model_name = model_node.find("name")->as_string();
  if (contents) {
    train::TrainedModelRequest request;
    request.checkpoint = eval.checkpoint;
    request.use_ema = eval.use_ema;
    request.model = model_node;
    const train::TrainedModel trained = train::load_trained_model(request, std::move(*contents));
    model_ptr = trained.model;
    model_name = trained.name;
  } else {
    const config::Node* pretrained = model_node.find("pretrained");
    if (!pretrained || pretrained->is_null())
      throw UsageError(
          "vitrine eval needs checkpoint=PATH (a last.pt/best.pt of vitrine train) or "
          "model.pretrained=PATH (a state dict, e.g. official weights)");
    if (eval.use_ema) throw UsageError("use_ema needs checkpoint=PATH (a run with trainer.ema)");
    eval.checkpoint = pretrained->as_string();  // what the results name as the weights
    model_ptr = models::ModelRegistry::builtin().create(config::ConfigView(model_node, "model"));
  }
  models::Model& model = *model_ptr;
  model.to(device);

  const std::unique_ptr<train::Task> task = train::make_task(root);
  // Each output option belongs to one task; given to another, it would silently write nothing.
  const auto require_task = [&](const std::string& option, const std::string& value,
                                const char* needed) {
    if (!value.empty() && task->name() != needed)
      throw UsageError(option + " is for task " + needed + "; the task here is " + task->name());
  };
  require_task("--save-images", eval.save_images, "super_resolution");
  require_task("--save-detections", eval.save_detections, "detection");
  require_task("--save-predictions", eval.save_predictions, "segmentation");
  if (auto* sr = dynamic_cast<train::SrTask*>(task.get()))
    return evaluate_sr(root, *sr, model, device, eval, model_name);
  if (auto* detection = dynamic_cast<train::DetectionTask*>(task.get())) {
    // COCO bbox evaluation, pycocotools' summary, mmdet's metric names; the results JSON.
    return evaluate_dense(
        root, *detection, model, device, eval, model_name, 3, [&](ResultRow& fields) {
          if (!eval.save_detections.empty())
            data::write_coco_results(eval.save_detections, detection->last_detections());
          fields.push_back(
              {"detections", std::to_string(detection->last_detections().size()), true});
        });
  }
  if (auto* segmentation = dynamic_cast<train::SegmentationTask*>(task.get())) {
    // mmseg's metrics with the task's inference mode; the label maps when asked for.
    if (!eval.save_predictions.empty()) {
      const std::filesystem::path out(eval.save_predictions);
      std::filesystem::create_directories(out);
      const int64_t offset = root.child("data").get_bool("reduce_zero_label", true) ? 1 : 0;
      segmentation->on_prediction(
          [out, offset](const std::string& source, const at::Tensor& labels) {
            write_label_png(out / (std::filesystem::path(source).stem().string() + ".png"), labels,
                            offset);
          });
    }
    return evaluate_dense(
        root, *segmentation, model, device, eval, model_name, 4, [&](ResultRow& fields) {
          fields.push_back({"mode", root.child("task").get_string("mode", "whole"), false});
        });
  }
  return evaluate_classification(root, dynamic_cast<train::ClassificationTask&>(*task), model,
                                 device, eval, model_name);
}

}  // namespace vitrine::cli
