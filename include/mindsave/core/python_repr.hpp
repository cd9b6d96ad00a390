// Numbers printed as Python prints them (a float's repr), so callbacks and metrics print what MindSpore's
// users see: 0.9868, 1.0, 0.0001, 1e-05, 1e+16.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>

namespace mindsave::detail {

// A double as Python's repr writes it: the shortest digits that read back the same, positional from 1e-4 up
// to 1e16, scientific otherwise ("1e-05", "1.5e+16"), and ".0" on a whole number.
inline std::string python_float_repr(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    const auto end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific).ptr;
    const std::string_view sci(buf, static_cast<std::size_t>(end - buf));  // [-]d[.ddd]e±XX
    const auto e = sci.find('e');
    const int exp10 = std::atoi(std::string(sci.substr(e + 1)).c_str());  // "+05", "-10"
    std::string_view mantissa = sci.substr(0, e);
    std::string out;
    if (mantissa.front() == '-') out = "-", mantissa.remove_prefix(1);
    std::string digits;
    for (const char c : mantissa)
        if (c != '.') digits += c;
    if (exp10 < -4 || exp10 >= 16) {
        out += digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        out += exp10 < 0 ? "e-" : "e+";
        const std::string x = std::to_string(std::abs(exp10));
        return out + (x.size() < 2 ? "0" : "") + x;
    }
    if (exp10 < 0) return out + "0." + std::string(static_cast<std::size_t>(-exp10 - 1), '0') + digits;
    const auto whole = static_cast<std::size_t>(exp10) + 1;
    if (digits.size() <= whole) return out + digits + std::string(whole - digits.size(), '0') + ".0";
    return out + digits.substr(0, whole) + "." + digits.substr(whole);
}

}  // namespace mindsave::detail
