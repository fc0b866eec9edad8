// Results files for `vitrine eval` and `vitrine bench model` (timm's --results-file): one
// record per row, as CSV (a header line then one line per row) or JSON (an object for a
// single record, an array of objects for a table), chosen by the file's extension.
#pragma once

#include <string>
#include <vector>

namespace vitrine::cli {

struct ResultField {
  std::string name;
  std::string text;  // already formatted (JSON-ready for numbers)
  bool is_number = false;
};
using ResultRow = std::vector<ResultField>;

// A number with `digits` decimals, as text.
std::string format_number(double value, int digits);
// Writes `rows` (all with the same field names) to `path`: CSV when it ends in .csv, else
// JSON (`as_table`: an array even for one row). Throws std::runtime_error if it cannot write.
void write_results(const std::string& path, const std::vector<ResultRow>& rows, bool as_table);

}  // namespace vitrine::cli
