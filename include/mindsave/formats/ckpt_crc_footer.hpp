// MindSpore's crc_num footer of a .ckpt (crc_check=True, MindSpore >= 2.3): the 17 bytes after the last
// record, "crc_num" then the CRC-32 of the records as 10 big-endian bytes whose first 6 are zero.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "mindsave/core/endian.hpp"


namespace mindsave::format::detail {

inline constexpr std::size_t crc_footer_bytes = 17;

struct CrcFooter {
    std::uint32_t crc = 0;
    bool well_formed = true;  // the 6 high bytes are zero, as MindSpore writes them
};

// The footer that file ends with, or nullopt when its last 17 bytes do not begin with "crc_num".
inline std::optional<CrcFooter> crc_footer(std::span<const std::byte> file) noexcept {
    if (file.size() < crc_footer_bytes) return std::nullopt;
    const std::byte* f = file.data() + file.size() - crc_footer_bytes;
    if (std::memcmp(f, "crc_num", 7) != 0) return std::nullopt;
    return CrcFooter{static_cast<std::uint32_t>(load_be(f + 13, 4)), load_be(f + 7, 6) == 0};
}

inline std::array<std::byte, crc_footer_bytes> encode_crc_footer(std::uint32_t crc) noexcept {
    std::array<std::byte, crc_footer_bytes> out{};
    std::memcpy(out.data(), "crc_num", 7);
    store_be(out.data() + 13, crc, 4);
    return out;
}

}  // namespace mindsave::format::detail
