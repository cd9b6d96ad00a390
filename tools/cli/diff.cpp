// mindsave diff: compares the records two files share by name, value by value.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <iostream>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cli.hpp"
#include "input.hpp"
#include "text.hpp"

namespace mindsave::cli {
namespace {

constexpr std::string_view diff_help = R"(usage: mindsave diff A B

Compares the records two checkpoints share by name: 'identical' when bit-equal, else the
largest absolute difference |a-b| and relative difference |a-b| / max(|a|,|b|) (0 when both
are 0), and how many elements differ. Lists names only in A or only in B, dtype and shape
mismatches, and a different record order. The framing (CRC footer, the MindSpore writer
generation) is noted but not counted: compare bytes with cmp(1).

exit status: 0 the records are bit-identical; 1 they differ; 2 a file cannot be read.
)";

// A difference, to six significant digits (more would be noise).
std::string diff_text(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return "inf";
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
    return std::string(buf, r.ptr);
}

enum class Outcome { identical, different, mismatched };

bool same_bytes(const RecordView& x, const RecordView& y) {
    return x.data.size() == y.data.size() &&
           (x.data.empty() || std::memcmp(x.data.data(), y.data.data(), x.data.size()) == 0);
}

bool same_content(const RecordView& x, const RecordView& y) {
    return x.is_string == y.is_string && (x.is_string || (x.dtype == y.dtype && x.shape == y.shape)) &&
           same_bytes(x, y);
}

struct DiffStats {
    double max_abs = 0, max_rel = 0;
    std::size_t differing = 0;     // elements whose values differ (NaN equals NaN)
    std::size_t nan_one_side = 0;  // elements NaN in one file only
};

// Element-wise comparison of two tensors of one shape, possibly of different dtypes.
DiffStats numeric_diff(const RecordView& x, const RecordView& y) {
    DiffStats d;
    const std::size_t n = elements_of(x);
    mindsave::visit_dtype(x.dtype, [&](auto xtag) {
        mindsave::visit_dtype(y.dtype, [&](auto ytag) {
            using X = decltype(xtag);
            using Y = decltype(ytag);
            for (std::size_t i = 0; i < n; ++i) {
                const double a = element_at<X>(x.data.data(), i), b = element_at<Y>(y.data.data(), i);
                const bool na = std::isnan(a), nb = std::isnan(b);
                if (na && nb) continue;
                ++d.differing;
                if (na || nb) {
                    ++d.nan_one_side;
                    continue;
                }
                if (a == b) {  // covers inf == inf and -0 == 0
                    --d.differing;
                    continue;
                }
                double abs = std::fabs(a - b), rel = abs / std::max(std::fabs(a), std::fabs(b));
                if (std::isinf(a) || std::isinf(b))  // the limits of the formula
                    abs = std::numeric_limits<double>::infinity(), rel = std::isinf(a) && std::isinf(b) ? 2.0 : 1.0;
                d.max_abs = std::max(d.max_abs, abs);
                d.max_rel = std::max(d.max_rel, rel);
            }
        });
    });
    return d;
}

std::string describe(const DiffStats& d, std::size_t elements) {
    if (d.differing == 0) return "values equal, bits differ (signed zeros or NaN payloads)";
    std::string s = "max abs diff " + diff_text(d.max_abs) + ", max rel diff " + diff_text(d.max_rel) + " (" +
                    std::to_string(d.differing) + " of " + std::to_string(elements) +
                    (elements == 1 ? " element differs" : " elements differ");
    if (d.nan_one_side) s += ", " + std::to_string(d.nan_one_side) + " NaN on one side only";
    return s + ")";
}

Outcome compare(const RecordView& x, const RecordView& y, std::string& line) {
    if (x.is_string || y.is_string) {
        if (x.is_string != y.is_string) {
            line = "type mismatch: " + type_name(x) + " in A, " + type_name(y) + " in B";
            return Outcome::mismatched;
        }
        if (same_bytes(x, y)) {
            line = "identical";
            return Outcome::identical;
        }
        line = "text differs: \"" + escaped(shortened(text_of(x), 60), Escape::quoted) + "\" in A, \"" +
               escaped(shortened(text_of(y), 60), Escape::quoted) + "\" in B";
        return Outcome::different;
    }
    const bool same_dtype = x.dtype == y.dtype;
    const std::string dtypes = std::string(mindsave::dtype_name(x.dtype)) + " in A, " +
                               std::string(mindsave::dtype_name(y.dtype)) + " in B";
    if (x.shape != y.shape) {
        line = "shape mismatch: " + mindsave::shape_string(x.shape) + " in A, " + mindsave::shape_string(y.shape) +
               " in B" + (same_dtype ? "" : "; dtype " + dtypes);
        return Outcome::mismatched;
    }
    if (same_dtype && same_bytes(x, y)) {
        line = "identical";
        return Outcome::identical;
    }
    const std::string numbers = describe(numeric_diff(x, y), elements_of(x));
    if (!same_dtype) {
        line = "dtype mismatch: " + dtypes + "; " + numbers;
        return Outcome::mismatched;
    }
    line = numbers;
    return Outcome::different;
}

int run_diff(const ParsedArgs& args) {
    constexpr std::string_view names[] = {"A", "B"};
    args.expect_positional(names);
    const fs::path path_a = args.positional[0], path_b = args.positional[1];
    const Input file_a(path_a, detect_format(path_a), false), file_b(path_b, detect_format(path_b), false);
    const auto& ra = file_a.records();
    const auto& rb = file_b.records();

    // A name that appears twice counts once, with its last value, as every loader takes it.
    auto last_index = [](const std::vector<RecordView>& rs) {
        std::unordered_map<std::string_view, std::size_t> m;
        for (std::size_t i = 0; i < rs.size(); ++i) m[rs[i].name] = i;
        return m;
    };
    const auto index_a = last_index(ra), index_b = last_index(rb);
    std::vector<std::size_t> only_a, only_b;
    std::vector<std::string_view> shared_in_a, shared_in_b;  // shared names in each file's order
    std::size_t identical = 0, different = 0, mismatched = 0;
    std::string out;
    for (std::size_t i = 0; i < ra.size(); ++i) {
        if (index_a.at(ra[i].name) != i) continue;
        const auto it = index_b.find(ra[i].name);
        if (it == index_b.end()) {
            only_a.push_back(i);
            continue;
        }
        shared_in_a.push_back(ra[i].name);
        std::string line;
        switch (compare(ra[i], rb[it->second], line)) {
            case Outcome::identical: ++identical; break;
            case Outcome::different: ++different; break;
            case Outcome::mismatched: ++mismatched; break;
        }
        out += escaped(ra[i].name, Escape::terminal) + ": " + line + "\n";
    }
    for (std::size_t i = 0; i < rb.size(); ++i) {
        if (index_b.at(rb[i].name) != i) continue;
        if (index_a.contains(rb[i].name)) shared_in_b.push_back(rb[i].name);
        else only_b.push_back(i);
    }
    // A record only in A with the very bytes of one only in B is most likely a rename.
    auto twin = [](const RecordView& r, const std::vector<RecordView>& other, const std::vector<std::size_t>& among,
                   const char* side) -> std::string {
        for (const auto j : among)
            if (same_content(r, other[j]))
                return " (same content as '" + escaped(other[j].name, Escape::terminal) + "' in " + side + ")";
        return "";
    };
    for (const auto i : only_a) out += "only in A: " + escaped(ra[i].name, Escape::terminal) + twin(ra[i], rb, only_b, "B") + "\n";
    for (const auto i : only_b) out += "only in B: " + escaped(rb[i].name, Escape::terminal) + twin(rb[i], ra, only_a, "A") + "\n";
    const bool reordered = shared_in_a != shared_in_b;
    if (reordered) out += "order: the shared records are in a different order\n";
    if (file_a.has_crc_footer() != file_b.has_crc_footer())
        out += std::string("note: ") + (file_a.has_crc_footer() ? "A" : "B") +
               " has a CRC footer and the other has none (framing is not compared)\n";
    const bool differ = different || mismatched || !only_a.empty() || !only_b.empty() || reordered;
    out += "summary: " + std::to_string(identical) + " identical, " + std::to_string(different) + " different, " +
           std::to_string(mismatched) + " mismatched, " + std::to_string(only_a.size()) + " only in A, " +
           std::to_string(only_b.size()) + " only in B: " +
           (differ ? "the checkpoints differ" : "the checkpoints are identical") + "\n";
    std::cout << out;
    return differ ? exit_negative : exit_ok;
}


}  // namespace

const Command diff_command{"diff", diff_help, {}, run_diff};

}  // namespace mindsave::cli
