#include "cli/results_file.h"

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "train/run_log.h"

namespace vitrine::cli {

std::string format_number(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

void write_results(const std::string& path, const std::vector<ResultRow>& rows, bool as_table) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write results file '" + path + "'");
  const bool csv = path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  if (csv) {
    if (rows.empty()) return;
    for (size_t i = 0; i < rows[0].size(); ++i) out << (i ? "," : "") << rows[0][i].name;
    out << "\n";
    for (const ResultRow& row : rows) {
      for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << row[i].text;
      out << "\n";
    }
    return;
  }
  auto object = [&](const ResultRow& row, const char* indent) {
    out << indent << "{\n";
    for (size_t i = 0; i < row.size(); ++i)
      out << indent << "  " << train::json_string(row[i].name) << ": "
          << (row[i].is_number ? row[i].text : train::json_string(row[i].text))
          << (i + 1 < row.size() ? ",\n" : "\n");
    out << indent << "}";
  };
  if (!as_table && rows.size() == 1) {
    object(rows[0], "");
    out << "\n";
    return;
  }
  out << "[\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    object(rows[r], "  ");
    out << (r + 1 < rows.size() ? ",\n" : "\n");
  }
  out << "]\n";
}

}  // namespace vitrine::cli
