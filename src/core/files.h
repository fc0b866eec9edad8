// File writes that never leave a half-written file behind.
#pragma once

#include <string>
#include <vector>

namespace vitrine {

// Writes `bytes` to a temporary file beside `path`, flushes it to disk and renames it over
// `path`: a crash or kill at any moment leaves either the old file or the new one. Throws
// std::runtime_error naming the path on failure (the temporary file is removed).
void write_file_atomically(const std::string& path, const std::vector<char>& bytes);
void write_file_atomically(const std::string& path, const std::string& text);

// Removes the temporary files write_file_atomically left in `dir` when its writer died
// (SIGKILL, power loss): `<name>.tmp<pid>` whose process no longer runs. Returns their names.
std::vector<std::string> remove_stale_temporaries(const std::string& dir);

}  // namespace vitrine
