// UTF-8 in one place: decoding one character strictly (overlongs, surrogates and code points past
// U+10FFFF refused) and encoding a code point. Used by str records, the JSON reader and the CLI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mindsave::detail {

struct Utf8Char {
    std::size_t length = 0;  // 0: the bytes at that position are not UTF-8
    std::uint32_t code_point = 0;
};

// The character at s[i] (i < s.size()).
inline Utf8Char utf8_char_at(std::string_view s, std::size_t i) noexcept {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) return {1, c};
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1fu;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0fu;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07u;
    else return {};
    if (len > s.size() - i) return {};
    for (std::size_t k = 1; k < len; ++k) {
        const auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xc0) != 0x80) return {};
        cp = (cp << 6) | (cc & 0x3fu);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return {};
    if (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) return {};
    return {len, cp};
}

// Length of the valid UTF-8 sequence at s[i], or 0.
inline std::size_t utf8_length_at(std::string_view s, std::size_t i) noexcept { return utf8_char_at(s, i).length; }

// Appends code point cp (a Unicode scalar value) as UTF-8.
inline void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

}  // namespace mindsave::detail
