// load_param_into_net as MindSpore's, with one step further: loading into a network is a transaction
// that checks every assignment first and reports all problems at once. No file format is needed here.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mindsave/checkpoint/match.hpp"
#include "mindsave/core/closest_name.hpp"
#include "mindsave/core/concepts.hpp"
#include "mindsave/core/parameter_dict.hpp"
#include "mindsave/core/record_plan.hpp"

namespace mindsave {

// What load_param_into_net could not match: MindSpore's (param_not_load, ckpt_not_load).
struct LoadResult {
    std::vector<std::string> param_not_load;  // network parameters left as they were
    std::vector<std::string> ckpt_not_load;   // checkpoint entries no parameter took by exact name
};

struct LoadIntoNetOptions {
    bool require_all = false;  // a parameter with no checkpoint entry is an error, not a report line
};

namespace detail {

// How to keep a network's own values where the checkpoint's shapes differ (a new classification
// head): leave those entries out, by their common dotted prefix ("head.dense.") or one by one.
inline std::string filter_hint(const std::vector<std::string_view>& names) {
    std::string_view prefix = names.front();
    for (const auto n : names) {
        std::size_t k = 0;
        while (k < prefix.size() && k < n.size() && prefix[k] == n[k]) ++k;
        prefix = prefix.substr(0, k);
    }
    if (names.size() > 1) prefix = prefix.substr(0, prefix.rfind('.') + 1);  // whole path components ("" if none)
    std::string hint = "\n  to keep the network's own values for " + std::string(names.size() == 1 ? "it" : "these") +
                       " (a re-sized head, say), leave " + (names.size() == 1 ? "it" : "them") + " out of the dict: ";
    if (!prefix.empty())
        hint += "load_checkpoint(file, {.filter_prefix = {\"" + std::string(prefix) + "\"}}), or ";
    return hint + "load_checkpoint(file, {.choice_func = ...}) keeping the other names, or dict.erase(name) for each";
}
// " (did you mean 'x'?)" for the closest of candidates to name, or "".
inline std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates) {
    const auto c = closest_name(name, candidates);
    if (!c) return "";
    return " (did you mean '" + c->name + (c->differs_in_prefix ? "'? a prefix differs: load with match::suffix)" : "'?)");
}

enum class Family { floating, integer, other };
inline Family family_of(DType t) {
    if (is_floating(t)) return Family::floating;
    if (t == DType::Int8 || t == DType::Int16 || t == DType::Int32 || t == DType::Int64) return Family::integer;
    return Family::other;
}

// Element-wise conversion between two dtypes of one family: ints go through int64, floats through
// double, a chunk at a time, so the code is one loop per dtype and side, not one per pair of dtypes.
inline void convert(std::span<const std::byte> from, DType from_type, std::span<std::byte> to, DType to_type) {
    constexpr std::size_t chunk = 256;
    std::int64_t ints[chunk];
    double floats[chunk];
    const std::size_t n = to.size() / dtype_size(to_type);
    for (std::size_t i = 0; i < n; i += chunk) {
        const std::size_t m = std::min(chunk, n - i);
        visit_dtype(from_type, [&](auto tag) {
            using S = decltype(tag);
            for (std::size_t k = 0; k < m; ++k) {
                S s;
                std::memcpy(&s, from.data() + (i + k) * sizeof(S), sizeof(S));
                if constexpr (std::is_integral_v<S>) ints[k] = static_cast<std::int64_t>(s);
                else floats[k] = to_double(s);
            }
        });
        visit_dtype(to_type, [&](auto tag) {
            using D = decltype(tag);
            for (std::size_t k = 0; k < m; ++k) {
                D d;
                if constexpr (std::is_integral_v<D>) d = static_cast<D>(ints[k]);
                else d = from_double<D>(floats[k]);
                std::memcpy(to.data() + (i + k) * sizeof(D), &d, sizeof(D));
            }
        });
    }
}

struct ParameterSlot {
    std::string name;
    TensorView view;
};
struct MatchRules {
    bool prefix_fallback, cast_within_family;
};

// load_param_into_net past the network and the source of the bytes: plans every assignment from the records'
// headers, reports every problem at once, and only then calls read(jobs) to fill the parameters (straight
// from a file, or from a dict's records). Records with one name: the last one counts, at its first place.
template <class Read>
LoadResult load_into_slots(std::span<const ParameterSlot> slots, std::span<const RecordHeader> headers,
                           const LoadIntoNetOptions& options, MatchRules rules, Read&& read) {
    std::unordered_map<std::string_view, std::size_t> index;
    std::vector<std::size_t> order;  // each name once, at its first place, as its last record
    index.reserve(headers.size());
    for (std::size_t i = 0; i < headers.size(); ++i) {
        const auto [it, fresh] = index.insert_or_assign(headers[i].name, i);
        if (fresh) order.push_back(i);
    }
    for (auto& i : order) i = index.at(headers[i].name);
    const auto find = [&](std::string_view name) -> const RecordHeader* {
        const auto it = index.find(name);
        return it == index.end() ? nullptr : &headers[it->second];
    };
    LoadResult result;
    for (const auto i : order) result.ckpt_not_load.push_back(headers[i].name);
    std::vector<std::pair<const ParameterSlot*, const RecordHeader*>> plan;
    for (const auto& slot : slots) {
        if (const auto* r = find(slot.name)) {
            if (r->is_string) continue;  // MindSpore skips str values silently
            plan.emplace_back(&slot, r);
            std::erase(result.ckpt_not_load, slot.name);
        } else if (!slot.name.starts_with("accu_grads")) {
            result.param_not_load.push_back(slot.name);
        }
    }
    if (rules.prefix_fallback) {
        // MindSpore's fallback: the first still-missing name that some key ends with gives a prefix,
        // tried for all missing names; repeat while a round finds one.
        while (!result.param_not_load.empty()) {
            std::optional<std::string> prefix;
            for (const auto& missing : result.param_not_load) {
                for (const auto i : order) {
                    const auto& r = headers[i];
                    if (!r.is_string && r.name.size() > missing.size() && r.name.ends_with(missing)) {
                        prefix = r.name.substr(0, r.name.size() - missing.size());
                        break;
                    }
                }
                if (prefix) break;
            }
            if (!prefix) break;
            for (const auto& slot : slots) {
                const auto it = std::find(result.param_not_load.begin(), result.param_not_load.end(), slot.name);
                if (it == result.param_not_load.end()) continue;
                const auto* r = find(*prefix + slot.name);
                if (!r || r->is_string) continue;
                plan.emplace_back(&slot, r);
                result.param_not_load.erase(it);  // MindSpore leaves such entries in ckpt_not_load
            }
        }
    }

    std::vector<std::string> problems;
    std::vector<std::string_view> resized;  // checkpoint names whose shape differs: a re-sized head, typically
    std::vector<bool> cast(plan.size(), false);
    for (std::size_t i = 0; i < plan.size(); ++i) {
        const auto& [slot, r] = plan[i];
        const Shape& want = slot->view.shape;
        const bool same_shape = r->shape == want;
        // MindSpore reshapes a checkpoint tensor whose extra trailing dims are all 1, e.g. [12,2048,1,1] -> [12,2048]
        const bool trailing_ones = r->shape.size() > want.size() &&
                                   std::equal(want.begin(), want.end(), r->shape.begin()) &&
                                   std::all_of(r->shape.begin() + static_cast<std::ptrdiff_t>(want.size()),
                                               r->shape.end(), [](std::size_t d) { return d == 1; });
        if (!same_shape && !trailing_ones) {
            problems.push_back(slot->name + ": shape " + shape_string(want) + " in the network, " +
                               shape_string(r->shape) + " in the checkpoint ('" + r->name + "')");
            resized.push_back(r->name);
            continue;
        }
        if (r->dtype != slot->view.dtype) {
            const auto fa = detail::family_of(r->dtype), fb = detail::family_of(slot->view.dtype);
            if (rules.cast_within_family && fa == fb && fa != detail::Family::other) {
                cast[i] = true;
            } else {
                problems.push_back(slot->name + ": dtype " + std::string(dtype_name(slot->view.dtype)) +
                                   " in the network, " + std::string(dtype_name(r->dtype)) + " in the checkpoint ('" +
                                   r->name + "')" +
                                   (fa == fb && fa != detail::Family::other
                                        ? " (match::suffix converts within a family; match::strict does not)"
                                        : ""));
            }
        }
    }
    if (options.require_all)  // suggestions come from the entries no parameter took
        for (const auto& missing : result.param_not_load)
            problems.push_back(missing + ": not in the checkpoint" + detail::did_you_mean(missing, result.ckpt_not_load));
    if (!problems.empty()) {
        std::string msg = "load_param_into_net: " + std::to_string(problems.size()) +
                          (problems.size() == 1 ? " problem" : " problems") + "; nothing was loaded:";
        for (const auto& p : problems) msg += "\n  - " + p;
        if (!resized.empty()) msg += detail::filter_hint(resized);
        throw ParameterError(msg);
    }
    // Every assignment checked: the bytes go straight into the parameters, or through a conversion.
    std::vector<ReadJob> direct;
    direct.reserve(plan.size());
    for (std::size_t i = 0; i < plan.size(); ++i)
        if (!cast[i]) direct.push_back({static_cast<std::size_t>(plan[i].second - headers.data()), plan[i].first->view.bytes});
    read(std::span<const ReadJob>(direct));
    for (std::size_t i = 0; i < plan.size(); ++i) {
        if (!cast[i]) continue;
        const auto& [slot, r] = plan[i];
        std::vector<std::byte> raw(r->bytes);  // only for a tensor stored in another dtype of its family
        const ReadJob job{static_cast<std::size_t>(r - headers.data()), raw};
        read(std::span<const ReadJob>(&job, 1));
        detail::convert(raw, r->dtype, slot->view.bytes, slot->view.dtype);
    }
    return result;
}

// The headers of a dict's records, for load_into_slots.
inline std::vector<RecordHeader> headers_of(const ParameterDict& dict) {
    std::vector<RecordHeader> out;
    out.reserve(dict.size());
    for (const auto& r : dict) out.push_back({r.name, r.dtype, r.shape, r.is_string(), r.data.size()});
    return out;
}

}  // namespace detail

// Loads every parameter of target (a network, an optimizer, anything with visit_parameters) that the
// dict holds, matching names by Match. Nothing in target changes unless every matched entry fits
// (shape, dtype); otherwise one ParameterError lists every problem.
template <MatchPolicy Match = match::suffix, HasParameters Target>
LoadResult load_param_into_net(Target& target, const ParameterDict& dict, const LoadIntoNetOptions& options = {}) {
    std::vector<detail::ParameterSlot> slots;
    visit_parameters(target, [&](std::string_view name, auto& p) { slots.push_back({std::string(name), view_of(p)}); });
    const auto headers = detail::headers_of(dict);
    const auto records = dict.begin();
    return detail::load_into_slots(slots, headers, options, {Match::prefix_fallback, Match::cast_within_family},
                                   [&](std::span<const ReadJob> jobs) {
                                       for (const auto& job : jobs) {
                                           const auto& data = records[static_cast<std::ptrdiff_t>(job.record)].data;
                                           if (!job.dest.empty()) std::memcpy(job.dest.data(), data.data(), job.dest.size());
                                       }
                                   });
}

// One line per parameter left unloaded, with a did-you-mean from the checkpoint's names.
inline std::string describe(const LoadResult& result) {
    std::string out;
    for (const auto& p : result.param_not_load)
        out += "not loaded: " + p + detail::did_you_mean(p, result.ckpt_not_load) + "\n";
    for (const auto& k : result.ckpt_not_load) out += "unused in checkpoint: " + k + "\n";
    return out;
}

}  // namespace mindsave
