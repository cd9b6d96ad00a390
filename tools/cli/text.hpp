// Text the commands print: numbers at their dtype's precision, names escaped for a terminal or JSON,
// and a record's statistics (min / max / mean over the values that are not NaN).
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "mindsave/core/dtype.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/core/utf8.hpp"

namespace mindsave::cli {

using mindsave::DType;
using mindsave::RecordView;

// The shortest text that reads back to the same value at the dtype's precision.
inline std::string number_text(double v, DType t) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    const bool single = t == DType::Float32 || t == DType::Float16 || t == DType::BFloat16;
    const auto r = single ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                          : std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

inline std::string json_number(double v, DType t) { return std::isfinite(v) ? number_text(v, t) : "null"; }

enum class Escape { terminal, quoted, json };

// Names and texts come from files: control characters and invalid UTF-8 are escaped so the
// output stays one line per record and valid JSON. quoted/json also escape '"' and '\'.
inline std::string escaped(std::string_view s, Escape mode) {
    std::string out;
    out.reserve(s.size());
    auto hex = [&](unsigned v, int digits) {
        constexpr char d[] = "0123456789abcdef";
        for (int k = digits - 1; k >= 0; --k) out += d[(v >> (4 * k)) & 0xf];
    };
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t len = mindsave::detail::utf8_length_at(s, i);
        if (len == 0) {  // a byte that is not UTF-8
            if (mode == Escape::json) out += "\\ufffd";
            else out += "\\x", hex(c, 2);
            ++i;
            continue;
        }
        if (len > 1) {
            out.append(s.substr(i, len));
            i += len;
            continue;
        }
        ++i;
        if (mode != Escape::terminal && (c == '"' || c == '\\')) out += '\\', out += static_cast<char>(c);
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else if (c < 0x20 || c == 0x7f) {
            if (mode == Escape::json) out += "\\u", hex(c, 4);
            else out += "\\x", hex(c, 2);
        } else out += static_cast<char>(c);
    }
    return out;
}

inline std::string json_string(std::string_view s) { return '"' + escaped(s, Escape::json) + '"'; }

// A long text shortened at a character boundary for one-line output.
inline std::string shortened(const std::string& text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return text;
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
    return text.substr(0, cut) + "...";
}

inline std::string json_shape(const mindsave::Shape& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

inline std::string type_name(const RecordView& r) { return r.is_string ? "str" : std::string(mindsave::dtype_name(r.dtype)); }

inline std::string text_of(const RecordView& r) { return mindsave::detail::utf32le_to_utf8(r.data); }

// ---------------------------------------------------------------------------------------------
// Values

// Element i as double. Tensor bytes sit at any offset in a file, so they are copied, not cast;
// a Bool byte other than 0 counts as true.
template <class T>
inline double element_at(const std::byte* base, std::size_t i) {
    if constexpr (std::is_same_v<T, bool>) {
        return base[i] != std::byte{0} ? 1.0 : 0.0;
    } else {
        T v;
        std::memcpy(&v, base + i * sizeof(T), sizeof(T));
        return mindsave::to_double(v);
    }
}

inline std::size_t elements_of(const RecordView& r) { return r.data.size() / mindsave::dtype_size(r.dtype); }

struct Stats {
    std::size_t elements = 0;
    std::size_t nan_count = 0;
    // Over the elements that are not NaN; NaN when there are none.
    double min = std::numeric_limits<double>::quiet_NaN();
    double max = std::numeric_limits<double>::quiet_NaN();
    double mean = std::numeric_limits<double>::quiet_NaN();
};

inline Stats statistics(const RecordView& r) {
    Stats s;
    s.elements = elements_of(r);
    mindsave::visit_dtype(r.dtype, [&](auto tag) {
        using T = decltype(tag);
        double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
        std::size_t n = 0;
        for (std::size_t i = 0; i < s.elements; ++i) {
            const double v = element_at<T>(r.data.data(), i);
            if (std::isnan(v)) {
                ++s.nan_count;
                continue;
            }
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            sum += v;
            ++n;
        }
        if (n > 0) s.min = lo, s.max = hi, s.mean = sum / static_cast<double>(n);
    });
    return s;
}

// The value of a one-element tensor, exactly (integers are not routed through double).
inline std::string exact_value(const RecordView& r, bool json) {
    return mindsave::visit_dtype(r.dtype, [&](auto tag) -> std::string {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>) {
            return r.data[0] != std::byte{0} ? "true" : "false";
        } else if constexpr (std::is_integral_v<T>) {
            T v;
            std::memcpy(&v, r.data.data(), sizeof(T));
            return std::to_string(v);
        } else {
            const double v = element_at<T>(r.data.data(), 0);
            return json ? json_number(v, r.dtype) : number_text(v, r.dtype);
        }
    });
}

}  // namespace mindsave::cli
