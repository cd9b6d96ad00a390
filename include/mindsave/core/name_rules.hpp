// Renaming rules with '*' patterns, applied at compile time or at run time, and name_map_problems:
// what keeps a list of rules from turning one parameter schema into exactly another.
#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/schema.hpp"

namespace mindsave {

// One renaming rule. FROM and TO hold the same number of '*' (at most four, never two in a row);
// each '*' matches any run of characters, the shortest that lets the rest match, and TO's k-th '*'
// takes what FROM's k-th matched. TO "-" drops the name. A rule without '*' is exact.
struct NameRule {
    std::string_view from, to;
};

namespace detail {
inline constexpr std::size_t max_wildcards = 4;

constexpr std::size_t wildcards(std::string_view pattern) noexcept {
    return static_cast<std::size_t>(std::count(pattern.begin(), pattern.end(), '*'));
}

// name matches pattern; captured[k] is what the k-th '*' matched. Each '*' jumps to the places where
// the literal text after it occurs (shortest first), so a check of hundreds of names stays cheap
// enough for constant evaluation.
constexpr bool glob_match(std::string_view pattern, std::string_view name, std::string_view* captured) noexcept {
    const auto star = pattern.find('*');
    if (star == std::string_view::npos) return pattern == name;
    if (!name.starts_with(pattern.substr(0, star))) return false;
    const std::string_view rest = pattern.substr(star + 1), tail = name.substr(star);
    const auto next = rest.find('*');
    const std::string_view literal = rest.substr(0, next);
    if (next == std::string_view::npos) {  // the last '*': the literal must end the name
        if (!tail.ends_with(literal)) return false;
        captured[0] = tail.substr(0, tail.size() - literal.size());
        return true;
    }
    for (auto at = tail.find(literal); at != std::string_view::npos; at = tail.find(literal, at + 1))
        if (glob_match(rest, tail.substr(at), captured + 1)) {
            captured[0] = tail.substr(0, at);
            return true;
        }
    return false;
}

// TO with its k-th '*' replaced by captured[k]; a '*' past the `count` captured (a malformed rule,
// which name_map_problems reports) becomes nothing.
constexpr std::string glob_fill(std::string_view to, const std::string_view* captured, std::size_t count) {
    std::string out;
    for (auto star = to.find('*'); star != std::string_view::npos; star = to.find('*')) {
        out.append(to.substr(0, star));  // whole pieces: cheap in constant evaluation
        if (count) out.append(*captured++), --count;
        to.remove_prefix(star + 1);
    }
    return out.append(to);
}

// The rule that renames name: an exact rule first, else the pattern with the most literal characters,
// else the earliest; null when none matches. Rules are anything with string-like `from` and `to`.
template <class Rules>
constexpr auto best_rule(const Rules& rules, std::string_view name, std::string_view* captured) {
    decltype(&*std::begin(rules)) best = nullptr;
    std::size_t best_score = 0;
    std::string_view tmp[max_wildcards + 1];
    for (const auto& r : rules) {
        const std::string_view from = r.from;
        const std::size_t stars = wildcards(from);
        if (stars > max_wildcards) continue;  // malformed (reported by rule_error): no room for its matches
        const std::size_t score = stars == 0 ? from.size() + 1 + name.size() : from.size() - stars + 1;  // exact wins
        if (best && score <= best_score) continue;
        if (stars && (!name.starts_with(from.substr(0, from.find('*'))) || !name.ends_with(from.substr(from.rfind('*') + 1))))
            continue;  // the cheap test first: most rules fail it
        if (!glob_match(from, name, tmp)) continue;
        best = &r, best_score = score;
        std::copy(tmp, tmp + stars, captured);
    }
    return best;
}

template <class Rules>
constexpr std::optional<std::string> apply_rules(const Rules& rules, std::string_view name) {
    std::string_view captured[max_wildcards + 1];
    const auto* r = best_rule(rules, name, captured);
    if (!r) return std::string(name);
    if (std::string_view(r->to) == "-") return std::nullopt;
    return glob_fill(r->to, captured, wildcards(r->from));
}

// Why FROM -> TO is not a rule; empty when it is one.
constexpr std::string_view rule_error(std::string_view from, std::string_view to) noexcept {
    if (from.empty() || to.empty()) return "an empty name";
    if (from.find("**") != std::string_view::npos || to.find("**") != std::string_view::npos)
        return "'**': two '*' in a row would match ambiguously";
    if (wildcards(from) > max_wildcards) return "more than 4 '*' in one rule";
    if (to != "-" && wildcards(from) != wildcards(to))
        return "FROM and TO need the same number of '*' (TO's k-th '*' takes what FROM's k-th matched), or TO '-'";
    return {};
}

constexpr std::string shape_text(const Shape& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += decimal(shape[i]);
    }
    return s + "]";
}
}  // namespace detail

// What keeps rules from turning a network's parameters (source) into exactly another's (target):
// a name that lands on nothing in target or on a different shape or dtype, two that land on one,
// a target parameter nothing lands on, a malformed rule. Empty means the map is complete, which
// static_assert can check when both schemas are compile-time values (core/schema.hpp).
constexpr std::vector<std::string> name_map_problems(const std::vector<ParameterSpec>& source,
                                                     std::span<const NameRule> rules,
                                                     const std::vector<ParameterSpec>& target) {
    std::vector<std::string> problems;
    for (const auto& r : rules)
        if (const auto e = detail::rule_error(r.from, r.to); !e.empty())
            problems.push_back("rule '" + std::string(r.from) + " " + std::string(r.to) + "': " + std::string(e));
    std::vector<std::string> landed(target.size());  // the source name that became target[i]
    std::vector<std::size_t> by_name(target.size());  // target indices sorted by name: constant evaluation
    for (std::size_t i = 0; i < by_name.size(); ++i) by_name[i] = i;  // is slow, a linear search too slow
    std::sort(by_name.begin(), by_name.end(), [&](std::size_t a, std::size_t b) { return target[a].name < target[b].name; });
    for (const auto& s : source) {
        const auto name = detail::apply_rules(rules, s.name);
        if (!name) continue;
        const auto at = std::lower_bound(by_name.begin(), by_name.end(), *name,
                                         [&](std::size_t i, const std::string& n) { return target[i].name < n; });
        const auto t = at != by_name.end() && target[*at].name == *name ? target.begin() + static_cast<std::ptrdiff_t>(*at)
                                                                       : target.end();
        std::string becomes = "'" + s.name + "'";  // (no ?: on strings: GCC 12 destroys its temporary twice in constexpr)
        if (*name != s.name) becomes += " becomes '" + *name + "', which";
        if (t == target.end()) {
            problems.push_back(becomes + " is not in the target (drop it with '" + s.name + " -', or rename it)");
            continue;
        }
        std::string& first = landed[static_cast<std::size_t>(t - target.begin())];
        if (!first.empty()) problems.push_back("'" + first + "' and '" + s.name + "' both become '" + *name + "'");
        else first = s.name;
        if (t->shape != s.shape || t->dtype != s.dtype)
            problems.push_back(becomes + " has shape " + detail::shape_text(t->shape) + " there, not " +
                               detail::shape_text(s.shape) + (t->dtype != s.dtype ? " (and another dtype)" : ""));
    }
    for (std::size_t i = 0; i < target.size(); ++i)
        if (landed[i].empty()) problems.push_back("'" + target[i].name + "' gets no value: no source name becomes it");
    return problems;
}

}  // namespace mindsave
