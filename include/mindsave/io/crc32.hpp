// CRC-32 as zlib and Python's binascii.crc32 compute it (reflected polynomial 0xEDB88320): carry-less
// multiplication where the CPU has it (a .pth's zip CRCs at memory speed), slice-by-8 elsewhere.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace mindsave::io {

namespace detail {
constexpr std::array<std::array<std::uint32_t, 256>, 8> make_crc_tables() {
    std::array<std::array<std::uint32_t, 256>, 8> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[0][i] = c;
    }
    for (std::size_t s = 1; s < 8; ++s)
        for (std::size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    return t;
}
inline constexpr auto crc_tables = make_crc_tables();

// The table-driven CRC over [p, p + n), from and to the inverted state c.
inline std::uint32_t crc32_tables(std::uint32_t c, const std::byte* p, std::size_t n) noexcept {
    const auto& t = crc_tables;
    while (n >= 8) {
        std::uint32_t lo, hi;
        std::memcpy(&lo, p, 4);  // little-endian host, as every platform MindSpore supports
        std::memcpy(&hi, p + 4, 4);
        lo ^= c;
        c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
            t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) c = t[0][(c ^ static_cast<std::uint8_t>(*p++)) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__) || defined(__i386__)
// Folding with PCLMULQDQ (Gopal et al., Intel, "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
// Instruction", 2009): four 128-bit lanes folded 64 bytes at a time, then into one lane, then Barrett-reduced
// to 32 bits. The constants are x^k mod P for the reflected polynomial. n >= 64 and a multiple of 16.
__attribute__((target("sse2"))) inline __m128i crc32_load(const std::byte* p) noexcept {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
__attribute__((target("pclmul,sse2"))) inline __m128i crc32_fold(__m128i x, __m128i k, __m128i next) noexcept {
    // x moved on by 128 or 512 bits (k holds the two constants), plus the data there
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}
__attribute__((target("pclmul,sse2"))) inline std::uint32_t crc32_clmul(std::uint32_t c, const std::byte* p,
                                                                          std::size_t n) noexcept {
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);  // x^(4*128+32), x^(4*128-32)
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);  // x^(128+32), x^(128-32)
    const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124);               // x^64
    const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);  // P' and mu, for Barrett
    const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);

    __m128i x1 = _mm_xor_si128(crc32_load(p), _mm_cvtsi32_si128(static_cast<int>(c)));
    __m128i x2 = crc32_load(p + 16), x3 = crc32_load(p + 32), x4 = crc32_load(p + 48);
    p += 64, n -= 64;
    for (; n >= 64; p += 64, n -= 64) {
        x1 = crc32_fold(x1, k1k2, crc32_load(p));
        x2 = crc32_fold(x2, k1k2, crc32_load(p + 16));
        x3 = crc32_fold(x3, k1k2, crc32_load(p + 32));
        x4 = crc32_fold(x4, k1k2, crc32_load(p + 48));
    }
    x1 = crc32_fold(x1, k3k4, x2);
    x1 = crc32_fold(x1, k3k4, x3);
    x1 = crc32_fold(x1, k3k4, x4);
    for (; n >= 16; p += 16, n -= 16) x1 = crc32_fold(x1, k3k4, crc32_load(p));

    // 128 bits to 64, then to 32 by Barrett reduction
    __m128i x = _mm_xor_si128(_mm_srli_si128(x1, 8), _mm_clmulepi64_si128(x1, k3k4, 0x10));
    x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, low32), k5, 0x00), _mm_srli_si128(x, 4));
    __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x, low32), poly, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), poly, 0x00);
    return static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm_srli_si128(_mm_xor_si128(x, t), 4)));
}
inline bool has_clmul() noexcept {
    static const bool yes = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse2");
    return yes;
}
#endif
}  // namespace detail

// Continues crc over bytes; start with crc = 0 (as binascii.crc32(data, 0)).
inline std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t crc = 0) noexcept {
    std::uint32_t c = ~crc;
    const std::byte* p = bytes.data();
    std::size_t n = bytes.size();
#if defined(__x86_64__) || defined(__i386__)
    if (n >= 64 && detail::has_clmul()) {
        const std::size_t whole = n & ~std::size_t{15};
        c = detail::crc32_clmul(c, p, whole);
        p += whole, n -= whole;
    }
#endif
    return ~detail::crc32_tables(c, p, n);
}

}  // namespace mindsave::io
