// Protobuf wire primitives over an in-memory byte range, every length checked against the end.
// Hand-written so formats can stream tensor bytes without generated code or a 2 GiB limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mindsave/core/byte_count.hpp"
#include "mindsave/core/endian.hpp"


namespace mindsave::io {

enum class WireType : std::uint8_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

// A message's field numbers are an enum class over std::uint32_t, one per message (protozero's way:
// `enum class TensorProto : std::uint32_t { dims = 1, ... }`), so a number cannot meet the wrong message.
template <class E>
concept FieldEnum = std::is_enum_v<E> && std::same_as<std::underlying_type_t<E>, std::uint32_t>;

// A field number as the writers take it: made only from a FieldEnum, never from a bare integer.
struct Field {
    std::uint32_t number;
    template <FieldEnum E>
    constexpr Field(E field) noexcept : number(static_cast<std::uint32_t>(field)) {}  // implicit by design
};

// A field's key as read: its number and wire type.
struct FieldKey {
    std::uint32_t number;
    WireType type;
    constexpr bool is(Field field, WireType wire) const noexcept { return number == field.number && type == wire; }
    constexpr bool is(Field field) const noexcept { return number == field.number; }
};

// Thrown by WireReader on malformed input; callers rethrow it as a FormatError naming their file.
struct WireError {
    std::size_t offset;
    std::string what;
};

class WireReader {
public:
    explicit WireReader(std::span<const std::byte> bytes, std::size_t base_offset = 0) noexcept
        : bytes_(bytes), base_(base_offset) {}

    bool at_end() const noexcept { return pos_ == bytes_.size(); }
    std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
    std::size_t offset() const noexcept { return base_ + pos_; }  // position within the whole file

    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ == bytes_.size()) fail("varint runs past the end");
            const auto b = static_cast<std::uint8_t>(bytes_[pos_++]);
            v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
        fail("varint longer than 10 bytes");
    }

    // Reads a field key: the field number and its wire type.
    FieldKey key() {
        const std::uint64_t k = varint();
        const auto t = static_cast<std::uint8_t>(k & 7);
        if (t != 0 && t != 1 && t != 2 && t != 5) fail("unsupported wire type " + std::to_string(t));
        if ((k >> 3) == 0 || (k >> 3) > 0x1fffffff) fail("invalid field number");
        return {static_cast<std::uint32_t>(k >> 3), static_cast<WireType>(t)};
    }

    // A length-delimited payload, checked to lie inside the range.
    std::span<const std::byte> bytes() {
        const std::uint64_t n = varint();
        if (n > bytes_.size() - pos_)
            fail("length " + std::to_string(n) + " runs past the end (" + std::to_string(bytes_.size() - pos_) +
                 " bytes left)");
        const auto out = bytes_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return out;
    }
    std::string_view string() {
        const auto b = bytes();
        return {reinterpret_cast<const char*>(b.data()), b.size()};
    }

    // Passes over n bytes (a payload whose length was read with varint()).
    void skip_bytes(std::size_t n) {
        if (n > bytes_.size() - pos_) fail("length " + std::to_string(n) + " runs past the end");
        pos_ += n;
    }

    // Little-endian fixed-width values (float, double, fixed32/64 fields and packed runs of them).
    std::uint32_t fixed32() { return static_cast<std::uint32_t>(fixed(4)); }
    std::uint64_t fixed64() { return fixed(8); }

    void skip(WireType type) {
        switch (type) {
            case WireType::varint: varint(); return;
            case WireType::length_delimited: bytes(); return;
            case WireType::fixed64: advance(8); return;
            case WireType::fixed32: advance(4); return;
        }
    }

    [[noreturn]] void fail(const std::string& what) const { throw WireError{offset(), what}; }

private:
    std::uint64_t fixed(std::size_t n) {
        if (n > bytes_.size() - pos_) fail("fixed-width field runs past the end");
        const std::uint64_t v = load_le(bytes_.data() + pos_, n);
        pos_ += n;
        return v;
    }
    void advance(std::size_t n) {
        if (n > bytes_.size() - pos_) fail("fixed-width field runs past the end");
        pos_ += n;
    }

    std::span<const std::byte> bytes_;
    std::size_t base_;
    std::size_t pos_ = 0;
};

}  // namespace mindsave::io

namespace mindsave::io {

// Writer side: sizes and encodings of varints and field keys.
constexpr std::size_t varint_size(std::uint64_t v) noexcept {
    std::size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

// Appends the varint encoding of v at out; returns the position after it.
inline std::byte* put_varint(std::byte* out, std::uint64_t v) noexcept {
    while (v >= 0x80) {
        *out++ = static_cast<std::byte>((v & 0x7f) | 0x80);
        v >>= 7;
    }
    *out++ = static_cast<std::byte>(v);
    return out;
}

constexpr std::uint64_t field_key(Field field, WireType type) noexcept {
    return (static_cast<std::uint64_t>(field.number) << 3) | static_cast<std::uint64_t>(type);
}

// Appends a field's key at out; returns the position after it.
inline std::byte* put_key(std::byte* out, Field field, WireType type) noexcept {
    return put_varint(out, field_key(field, type));
}

// Size of a varint field holding v: key and value.
constexpr std::size_t varint_field_size(Field field, std::uint64_t v) noexcept {
    return varint_size(field_key(field, WireType::varint)) + varint_size(v);
}

// Size of a length-delimited field holding n payload bytes: key, length, payload.
constexpr std::size_t length_delimited_size(Field field, std::size_t n) noexcept {
    return varint_size(field_key(field, WireType::length_delimited)) + varint_size(n) + n;
}

// A repeated dims field (TensorProto.dims in .ckpt, MindIR and ONNX) at r, unpacked (one value) or packed
// (all of them), appended to shape; more than max_tensor_rank dimensions is a WireError.
inline void read_dims(WireReader& r, WireType type, std::vector<std::size_t>& shape) {
    auto one = [&](WireReader& in) {
        if (shape.size() >= max_tensor_rank) in.fail("more than " + std::to_string(max_tensor_rank) + " dims");
        shape.push_back(static_cast<std::size_t>(in.varint()));
    };
    if (type != WireType::length_delimited) return one(r);
    const auto packed_bytes = r.bytes();
    WireReader packed(packed_bytes, r.offset() - packed_bytes.size());  // its offsets stay the file's
    while (!packed.at_end()) one(packed);
}

}  // namespace mindsave::io
