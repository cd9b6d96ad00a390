// Parameter names between PyTorch and MindSpore: BatchNorm's four tensors (told apart by their
// running-statistics sibling), and NameMap, a user's file of renames (rules as core/name_rules.hpp has them).
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/name_rules.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/io/file.hpp"

namespace mindsave {

// What to do with a list of names: each one's new name (nullopt: drop it), and records to add,
// each after the input record of the given index.
struct NamePlan {
    std::vector<std::optional<std::string>> names;
    std::vector<std::pair<std::size_t, TensorRecord>> added;
};

namespace detail {
inline std::pair<std::string_view, std::string_view> split_leaf(std::string_view name) {
    const auto dot = name.rfind('.');
    if (dot == std::string_view::npos) return {{}, name};
    return {name.substr(0, dot + 1), name.substr(dot + 1)};  // the prefix keeps its dot
}

// Renames the leaves of every group (same prefix) that has a `marker` leaf; drop lists leaves to leave out.
inline NamePlan rename_groups(std::span<const std::string> names, std::string_view marker,
                              std::span<const std::pair<std::string_view, std::string_view>> leaves,
                              std::string_view drop) {
    std::unordered_set<std::string_view> groups;
    for (const auto& n : names)
        if (const auto [prefix, leaf] = split_leaf(n); leaf == marker) groups.insert(prefix);
    NamePlan plan;
    plan.names.reserve(names.size());
    for (const auto& n : names) {
        const auto [prefix, leaf] = split_leaf(n);
        std::optional<std::string> to = n;
        if (groups.contains(prefix)) {
            if (!drop.empty() && leaf == drop) to.reset();
            for (const auto& [from, into] : leaves)
                if (leaf == from) to = std::string(prefix) + std::string(into);
        }
        plan.names.push_back(std::move(to));
    }
    return plan;
}

inline constexpr std::pair<std::string_view, std::string_view> torch_to_ms_batchnorm[] = {
    {"weight", "gamma"}, {"bias", "beta"}, {"running_mean", "moving_mean"}, {"running_var", "moving_variance"}};
inline constexpr std::pair<std::string_view, std::string_view> ms_to_torch_batchnorm[] = {
    {"gamma", "weight"}, {"beta", "bias"}, {"moving_mean", "running_mean"}, {"moving_variance", "running_var"}};
}  // namespace detail

// PyTorch names to MindSpore's: for each BatchNorm P (a P.running_mean exists) P.weight/bias/running_mean/
// running_var become P.gamma/beta/moving_mean/moving_variance, and P.num_batches_tracked is dropped.
inline NamePlan pytorch_to_mindspore_names(std::span<const std::string> names) {
    return detail::rename_groups(names, "running_mean", detail::torch_to_ms_batchnorm, "num_batches_tracked");
}

// MindSpore names to PyTorch's, the reverse; each BatchNorm gains P.num_batches_tracked = 0 (Int64, 0-d)
// after its last tensor, the value torch's BatchNorm itself fills in for a state dict without one.
inline NamePlan mindspore_to_pytorch_names(std::span<const std::string> names) {
    NamePlan plan = detail::rename_groups(names, "moving_mean", detail::ms_to_torch_batchnorm, {});
    std::unordered_map<std::string_view, std::size_t> last;  // BatchNorm prefix -> index of its last tensor
    std::unordered_set<std::string_view> has_counter;
    for (std::size_t i = 0; i < names.size(); ++i) {
        const auto [prefix, leaf] = detail::split_leaf(names[i]);
        if (leaf == "num_batches_tracked") has_counter.insert(prefix);
        if (names[i] != *plan.names[i] || leaf == "moving_mean") last[prefix] = i;
    }
    std::vector<std::pair<std::string_view, std::size_t>> groups(last.begin(), last.end());
    std::sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    for (const auto& [prefix, index] : groups)
        if (!has_counter.contains(prefix))
            plan.added.emplace_back(index, TensorRecord::scalar<std::int64_t>(std::string(prefix) + "num_batches_tracked", 0));
    std::sort(plan.added.begin(), plan.added.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return plan;
}

// A user's renames, one NameRule per line, "FROM TO"; '#' starts a comment:
//   conv1.weight        features.0.weight     exact
//   layer1.*            stage1.*              prefix: "layer1.0.w" becomes "stage1.0.w"
//   layer*.bn*.weight   l*.norm*.gamma        "layer2.0.bn1.weight" becomes "l2.0.norm1.gamma"
//   fc.bias             -                     drop the name; "aux.* -" drops a prefix
// An exact rule beats a pattern, the pattern with the most literal characters beats the others, an
// earlier line beats a later one. Names no rule matches stay.
class NameMap {
public:
    NameMap() = default;

    static NameMap parse(std::string_view text, const std::string& source = "name map") {
        NameMap map;
        std::size_t line_no = 0;
        while (!text.empty()) {
            ++line_no;
            const auto eol = text.find('\n');
            std::string_view line = text.substr(0, eol);
            text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
            if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
            std::vector<std::string_view> fields;
            for (std::size_t i = 0; i < line.size();) {
                while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
                const std::size_t start = i;
                while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
                if (i > start) fields.push_back(line.substr(start, i - start));
            }
            if (fields.empty()) continue;
            const std::string where = source + ":" + std::to_string(line_no) + ": ";
            if (fields.size() != 2)
                throw ConfigError(where + "expected 'FROM TO' (two names, or patterns with '*' such as " +
                                  "'layer*.bn* stage*.norm*', or 'NAME -' to drop), got " + std::to_string(fields.size()) +
                                  " fields");
            map.add({fields[0], fields[1]}, line_no, where);
        }
        return map;
    }

    static NameMap load(const std::filesystem::path& path) {
        const auto bytes = io::read_whole_file(path);
        return parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path.string());
    }

    // The rules of a compiled-in map (models/torchvision.hpp), line numbers counting from 1.
    static NameMap from_rules(std::span<const NameRule> rules, const std::string& source) {
        NameMap map;
        for (std::size_t i = 0; i < rules.size(); ++i)
            map.add(rules[i], i + 1, source + ": rule " + std::to_string(i + 1) + ": ");
        return map;
    }

    bool empty() const noexcept { return rules_.empty(); }

    // The plan for names: renamed or dropped by their rule.
    NamePlan plan(std::span<const std::string> names) const {
        NamePlan p;
        p.names.reserve(names.size());
        for (const auto& n : names) p.names.push_back(apply(n));
        return p;
    }

    std::optional<std::string> apply(std::string_view name) const { return detail::apply_rules(rules_, name); }

    // "line N: 'FROM'" of every rule no name in names matches, in line order, to warn about typos.
    std::vector<std::string> unused(std::span<const std::string> names) const {
        std::vector<bool> used(rules_.size());
        std::string_view captured[detail::max_wildcards + 1];
        for (const auto& n : names)
            if (const Rule* r = detail::best_rule(rules_, n, captured)) used[static_cast<std::size_t>(r - rules_.data())] = true;
        std::vector<std::string> out;
        for (std::size_t i = 0; i < rules_.size(); ++i)
            if (!used[i]) out.push_back("line " + std::to_string(rules_[i].line) + ": '" + rules_[i].from + "'");
        return out;
    }

private:
    struct Rule {
        std::string from, to;
        std::size_t line = 0;
    };
    void add(NameRule r, std::size_t line, const std::string& where) {
        if (const auto e = detail::rule_error(r.from, r.to); !e.empty()) throw ConfigError(where + std::string(e));
        for (const auto& other : rules_)
            if (other.from == r.from)
                throw ConfigError(where + "'" + std::string(r.from) + "' already has a rule on line " + std::to_string(other.line));
        rules_.push_back({std::string(r.from), std::string(r.to), line});
    }
    std::vector<Rule> rules_;  // in line order
};

}  // namespace mindsave
