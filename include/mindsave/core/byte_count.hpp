// What a shape read from a file may be: at most max_tensor_rank dimensions, and bytes counted with overflow
// checked. The one rule every reader applies before trusting a shape, and every writer before sizing a buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ranges>
#include <utility>

namespace mindsave {

// The most dimensions a file may give a tensor (numpy's limit, and the safetensors reader's): a hostile
// file cannot make a reader grow a shape without bound.
inline constexpr std::size_t max_tensor_rank = 64;

// element_size times the product of shape, or nullopt when that does not fit in std::size_t. As numpy and the
// reference safetensors reader, a shape whose non-zero dimensions overflow is refused even when another
// dimension is 0; otherwise a zero dimension makes 0 bytes.
template <std::ranges::forward_range Shape>
constexpr std::optional<std::size_t> checked_byte_count(const Shape& shape, std::size_t element_size) noexcept {
    std::size_t n = element_size;
    bool empty = false;
    for (const auto d : shape) {
        if (!std::in_range<std::size_t>(d)) return std::nullopt;
        if (d == 0) {
            empty = true;
            continue;
        }
        if (__builtin_mul_overflow(n, static_cast<std::size_t>(d), &n)) return std::nullopt;
    }
    return empty ? 0 : n;
}

}  // namespace mindsave
