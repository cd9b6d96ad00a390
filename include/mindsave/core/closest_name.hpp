// closest_name: the candidate a mistyped or re-prefixed name most likely meant, for "did you mean" hints
// in load errors and the CLI (one rule everywhere: a dotted suffix match first, then a small edit distance).
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mindsave {

namespace detail {
// Levenshtein distance, one row of memory.
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}
}  // namespace detail

struct ClosestName {
    std::string name;
    bool differs_in_prefix = false;  // name is candidate's dotted tail ("fc1.weight" for "backbone.fc1.weight")
};

// The candidate that ends in "." + name, else the nearest one within max(3, |name| / 3) edits, else none.
inline std::optional<ClosestName> closest_name(std::string_view name, std::span<const std::string> candidates) {
    const std::string tail = "." + std::string(name);
    for (const auto& c : candidates)
        if (c.ends_with(tail)) return ClosestName{c, true};
    const std::string* best = nullptr;
    std::size_t best_distance = std::max<std::size_t>(3, name.size() / 3) + 1;
    for (const auto& c : candidates)
        if (const std::size_t d = detail::edit_distance(name, c); d < best_distance) best_distance = d, best = &c;
    if (!best) return std::nullopt;
    return ClosestName{*best, false};
}

}  // namespace mindsave
