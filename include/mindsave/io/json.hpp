// A strict, pull-style JSON (RFC 8259) reader for headers read from files (safetensors), and the
// string escaping serde_json writes. No document tree: callers read straight into their own structs.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mindsave/core/utf8.hpp"

namespace mindsave::io::detail {

// A JSON problem and where it is (byte offset in the text).
struct JsonError {
    std::string what;
    std::size_t offset = 0;
};

using mindsave::detail::utf8_length_at;

// The offset of the first byte that is not UTF-8, or npos.
inline std::size_t find_invalid_utf8(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t len = utf8_length_at(s, i);
        if (len == 0) return i;
        i += len;
    }
    return std::string_view::npos;
}

// Appends s as a JSON string the way serde_json writes it: only '"', '\' and control characters escaped.
inline void append_json_string(std::string& out, std::string_view s) {
    constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xf];
                } else {
                    out += ch;
                }
        }
    }
    out += '"';
}

// Reads one JSON value from text, token by token. Containers nest at most max_depth deep, so a
// hostile document cannot exhaust the stack; nothing is allocated beyond what the caller keeps.
class JsonReader {
public:
    explicit JsonReader(std::string_view text, std::size_t max_depth = 64) : text_(text), max_depth_(max_depth) {}

    std::size_t offset() const noexcept { return pos_; }
    [[noreturn]] void fail(std::string what) const { throw JsonError{std::move(what), pos_}; }

    // What comes next: '{', '[', '"', 'n' (null), 't'/'f' (true/false), '0' (a number), or '\0' at the end.
    char peek() {
        skip_space();
        if (pos_ == text_.size()) return '\0';
        const char c = text_[pos_];
        if (c == '-' || (c >= '0' && c <= '9')) return '0';
        return c;
    }

    void begin_object() { open('{'); }
    void begin_array() { open('['); }

    // The next member's key, or false at the object's end (which is consumed).
    bool next_member(std::string& key) {
        if (!next_item('}')) return false;
        if (peek() != '"') fail("expected a member name in double quotes");
        key = string();
        skip_space();
        if (pos_ == text_.size() || text_[pos_] != ':') fail("expected ':' after a member name");
        ++pos_;
        return true;
    }
    // True when another element follows, false at the array's end (which is consumed).
    bool next_element() { return next_item(']'); }

    std::string string() {
        skip_space();
        if (pos_ == text_.size() || text_[pos_] != '"') fail("expected a string");
        ++pos_;
        std::string out;
        while (true) {
            if (pos_ == text_.size()) fail("a string runs past the end of the text");
            const auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c < 0x20) fail("a raw control character inside a string (it must be escaped)");
            if (c != '\\') {
                const std::size_t len = utf8_length_at(text_, pos_);
                if (len == 0) fail("a string holds bytes that are not UTF-8");
                out.append(text_.substr(pos_, len));
                pos_ += len;
                continue;
            }
            ++pos_;
            if (pos_ == text_.size()) fail("a string runs past the end of the text");
            const char e = text_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': append_code_point(out); break;
                default: --pos_, fail(std::string("unknown escape '\\") + e + "'");
            }
        }
    }

    // A non-negative integer literal that fits 64 bits (no sign, fraction or exponent), as serde reads usize.
    std::uint64_t uint64() {
        skip_space();
        const std::size_t start = pos_;
        const std::string_view literal = number_literal();
        if (literal.find_first_of("-.eE") != std::string_view::npos) {
            pos_ = start;
            fail("expected a non-negative integer, found " + std::string(literal.substr(0, 40)));
        }
        std::uint64_t v = 0;
        for (const char c : literal) {
            const auto d = static_cast<std::uint64_t>(c - '0');
            if (v > (UINT64_MAX - d) / 10) {
                pos_ = start;
                fail("integer " + std::string(literal.substr(0, 40)) + " does not fit in 64 bits");
            }
            v = v * 10 + d;
        }
        return v;
    }

    // A number literal as a double (Python's json.dumps of a float or an int).
    double number() {
        skip_space();
        const std::size_t start = pos_;
        const std::string_view literal = number_literal();
        double v = 0;
        const auto r = std::from_chars(literal.data(), literal.data() + literal.size(), v);
        if (r.ec != std::errc() || r.ptr != literal.data() + literal.size()) {
            pos_ = start;
            fail("number " + std::string(literal.substr(0, 40)) + " is out of range");
        }
        return v;
    }

    // true or false.
    bool boolean() {
        const char c = peek();
        if (c == 't') return literal("true"), true;
        if (c == 'f') return literal("false"), false;
        fail("expected true or false");
    }

    // Consumes null if it comes next.
    bool null() {
        if (peek() != 'n') return false;
        literal("null");
        return true;
    }

    // Skips any one value (checked as strictly as the rest).
    void skip_value() {
        switch (peek()) {
            case '{': {
                begin_object();
                std::string key;
                while (next_member(key)) skip_value();
                return;
            }
            case '[':
                begin_array();
                while (next_element()) skip_value();
                return;
            case '"': string(); return;
            case 'n': literal("null"); return;
            case 't': literal("true"); return;
            case 'f': literal("false"); return;
            case '0': number_literal(); return;
            case '\0': fail("the text ends where a value should be");
            default: fail("expected a value");
        }
    }

    // Only whitespace may follow the value (safetensors pads its header with spaces).
    void end() {
        if (peek() != '\0') fail("unexpected text after the end of the JSON value");
    }

private:
    void skip_space() noexcept {
        while (pos_ < text_.size() &&
               (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
            ++pos_;
    }

    void open(char c) {
        if (peek() != c) fail(c == '{' ? "expected a JSON object" : "expected a JSON array");
        if (first_.size() >= max_depth_)
            fail("values nest more than " + std::to_string(max_depth_) + " levels deep");
        ++pos_;
        first_.push_back(true);
    }

    bool next_item(char close) {
        skip_space();
        if (pos_ == text_.size()) fail(close == '}' ? "an object runs past the end of the text"
                                                    : "an array runs past the end of the text");
        const bool first = first_.back();
        if (text_[pos_] == close && first) {
            ++pos_;
            first_.pop_back();
            return false;
        }
        if (!first) {
            if (text_[pos_] == close) {
                ++pos_;
                first_.pop_back();
                return false;
            }
            if (text_[pos_] != ',') fail(std::string("expected ',' or '") + close + "'");
            ++pos_;
            skip_space();
            if (pos_ < text_.size() && text_[pos_] == close) fail("a trailing comma");
        }
        first_.back() = false;
        return true;
    }

    void literal(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) fail("expected a value");
        pos_ += word.size();
    }

    // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    std::string_view number_literal() {
        const std::size_t start = pos_;
        auto digits = [&] {
            const std::size_t from = pos_;
            while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
            return pos_ - from;
        };
        if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
        if (pos_ < text_.size() && text_[pos_] == '0') ++pos_;
        else if (digits() == 0) fail("expected a number");
        if (pos_ < text_.size() && text_[pos_] == '.') {
            ++pos_;
            if (digits() == 0) fail("a number has no digits after '.'");
        }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
            if (digits() == 0) fail("a number has no digits in its exponent");
        }
        if (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') fail("a number with a leading zero");
        return text_.substr(start, pos_ - start);
    }

    std::uint32_t hex4() {
        if (text_.size() - pos_ < 4) fail("a \\u escape needs four hex digits");
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
            else --pos_, fail("a \\u escape needs four hex digits");
        }
        return v;
    }

    // After "\u": one code point, a surrogate pair joined; a lone surrogate is not a character.
    void append_code_point(std::string& out) {
        std::uint32_t cp = hex4();
        if (cp >= 0xdc00 && cp <= 0xdfff) fail("a lone trailing surrogate in a \\u escape");
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (text_.substr(pos_, 2) != "\\u") fail("a lone leading surrogate in a \\u escape");
            pos_ += 2;
            const std::uint32_t low = hex4();
            if (low < 0xdc00 || low > 0xdfff) fail("a leading surrogate without its trailing half");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        mindsave::detail::append_utf8(out, cp);
    }

    std::string_view text_;
    std::size_t max_depth_;
    std::size_t pos_ = 0;
    std::vector<bool> first_;  // per open container: no element read yet
};

}  // namespace mindsave::io::detail
