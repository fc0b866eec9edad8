#include "train/run_log.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/files.h"

namespace vitrine::train {
namespace {

// Keeps the lines of `path` for which keep(line) is true (the header is kept by the caller's
// predicate).
template <typename Keep>
void filter_lines(const std::string& path, Keep keep) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line))
    if (keep(line)) kept += line + "\n";
  write_file_atomically(path, kept);
}

int64_t json_epoch(const std::string& line) {
  const size_t at = line.find("\"epoch\":");
  return at == std::string::npos ? -1 : std::atoll(line.c_str() + at + 8);
}

void append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app);
  out << text;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

// Appends one epoch's row to summary.csv. Epochs that do not evaluate (trainer.eval_every > 1)
// have no eval_* cells, so the columns are the union seen so far: a column that first
// appears later is inserted before `lr` (timm's order: epoch, train_*, eval_*, lr) and the
// file is rewritten once with empty cells in the earlier rows, which pandas and csv readers
// take as missing values. Every row has as many fields as the header.
void append_summary_row(const std::string& path,
                        const std::vector<std::pair<std::string, std::string>>& cells) {
  std::ifstream in(path);
  std::string line;
  const std::vector<std::string> old_header =
      in && std::getline(in, line) ? split_csv_line(line) : std::vector<std::string>();
  std::vector<std::string> header = old_header;
  auto column = [&](const std::string& name) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  for (const auto& cell : cells)
    if (column(cell.first) == header.size())
      header.insert(cell.first == "lr" ? header.end() : header.begin() + column("lr"), cell.first);
  auto join = [](const std::vector<std::string>& fields) {
    std::string out;
    for (size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + fields[i];
    return out + "\n";
  };
  std::vector<std::string> row(header.size());
  for (const auto& [name, value] : cells) row[column(name)] = value;
  if (old_header.empty() || header.size() == old_header.size()) {
    append(path, (old_header.empty() ? join(header) : std::string()) + join(row));
    return;
  }
  // Re-lay the earlier rows under the grown header: an old column keeps its values, a new
  // one gets empty cells.
  std::string text = join(header);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> old_fields = split_csv_line(line);
    std::vector<std::string> fields(header.size());
    for (size_t i = 0; i < old_header.size() && i < old_fields.size(); ++i)
      fields[column(old_header[i])] = old_fields[i];
    text += join(fields);
  }
  write_file_atomically(path, text + join(row));
}

}  // namespace

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.9g", value);  // round-trips float32 exactly
  return buffer;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

RunLog::RunLog(const std::string& directory, int64_t resume_epoch, bool tensorboard)
    : directory_(directory) {
  if (directory_.empty()) return;  // a rank other than 0 of a distributed run: writes nothing
  if (resume_epoch > 0) {
    // Records carry epoch numbers from 1, as the console: keep the finished epochs' ones.
    filter_lines(directory + "/metrics.jsonl",
                 [&](const std::string& line) { return json_epoch(line) <= resume_epoch; });
    filter_lines(directory + "/summary.csv", [&](const std::string& line) {
      return line.rfind("epoch", 0) == 0 || std::atoll(line.c_str()) <= resume_epoch;
    });
  } else {
    std::remove((directory + "/metrics.jsonl").c_str());
    std::remove((directory + "/summary.csv").c_str());
  }
  if (tensorboard) tensorboard_ = std::make_unique<TensorBoardWriter>(directory);
}

void RunLog::log_step(int64_t epoch, int64_t global_step, const MetricList& values) {
  if (directory_.empty()) return;
  std::ostringstream line;
  line << "{\"kind\":\"step\",\"epoch\":" << epoch + 1 << ",\"step\":" << global_step;
  for (const auto& [key, value] : values)
    line << "," << json_string(key) << ":" << json_number(value);
  line << "}\n";
  append(directory_ + "/metrics.jsonl", line.str());
  if (tensorboard_) {
    for (const auto& [key, value] : values)
      tensorboard_->add_scalar("train/" + key, value, global_step);
    tensorboard_->flush();
  }
}

void RunLog::log_epoch(int64_t epoch, const MetricList& train, const MetricList& eval, double lr,
                       const MetricList& extra) {
  if (directory_.empty()) return;
  std::ostringstream line;
  const int64_t number = epoch + 1;  // files count epochs from 1, as the console does
  line << "{\"kind\":\"epoch\",\"epoch\":" << number;
  for (const auto& [key, value] : train) line << ",\"train_" << key << "\":" << json_number(value);
  for (const auto& [key, value] : eval) line << ",\"eval_" << key << "\":" << json_number(value);
  line << ",\"lr\":" << json_number(lr);
  for (const auto& [key, value] : extra)
    line << "," << json_string(key) << ":" << json_number(value);
  line << "}\n";
  append(directory_ + "/metrics.jsonl", line.str());

  std::vector<std::pair<std::string, std::string>> cells{{"epoch", std::to_string(number)}};
  for (const auto& [key, value] : train) cells.emplace_back("train_" + key, json_number(value));
  for (const auto& [key, value] : eval) cells.emplace_back("eval_" + key, json_number(value));
  cells.emplace_back("lr", json_number(lr));
  append_summary_row(directory_ + "/summary.csv", cells);

  if (tensorboard_) {
    for (const auto& [key, value] : train)
      tensorboard_->add_scalar("epoch/train_" + key, value, number);
    for (const auto& [key, value] : eval)
      tensorboard_->add_scalar("epoch/eval_" + key, value, number);
    tensorboard_->add_scalar("epoch/lr", lr, number);
    tensorboard_->flush();
  }
}

}  // namespace vitrine::train
