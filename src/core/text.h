// Small string helpers used in user-facing messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vitrine {

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `word` if it is plausibly a typo of it (distance <= 1/3 of the
// length, at least 1 edit allowed), else "".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "" — ready to append to an error message.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// 27901582 -> "27,901,582".
std::string with_thousands(int64_t value);

std::string join(const std::vector<std::string>& items, const std::string& separator);

}  // namespace vitrine
