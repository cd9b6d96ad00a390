// Integers in byte buffers, little- or big-endian, n bytes wide: the one place byte order is written out
// (the formats are little-endian but for MindSpore's CRC footer and pickle's BINFLOAT, both big-endian).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mindsave {

namespace detail {
template <class Byte>
concept ByteLike = sizeof(Byte) == 1;
}

// The n-byte (n <= 8) little-endian value at p.
template <detail::ByteLike Byte>
constexpr std::uint64_t load_le(const Byte* p, std::size_t n) noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = n; i-- > 0;) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
    return v;
}
template <detail::ByteLike Byte>
constexpr std::uint64_t load_be(const Byte* p, std::size_t n) noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
    return v;
}

// v's low n bytes (n <= 8) at out, little-endian.
template <detail::ByteLike Byte>
constexpr void store_le(Byte* out, std::uint64_t v, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<Byte>((v >> (8 * i)) & 0xff);
}
template <detail::ByteLike Byte>
constexpr void store_be(Byte* out, std::uint64_t v, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) out[n - 1 - i] = static_cast<Byte>((v >> (8 * i)) & 0xff);
}

// v's low n bytes (n <= 8) appended to out (a std::vector of bytes, a std::string), little-endian.
template <class Bytes>
    requires detail::ByteLike<typename Bytes::value_type>
void append_le(Bytes& out, std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<typename Bytes::value_type>((v >> (8 * i)) & 0xff));
}

}  // namespace mindsave
