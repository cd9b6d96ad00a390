// Padding as MindSpore's convolution and pooling layers spell it: pad_mode 'same', 'valid' or 'pad', and the
// output size and padding each mode gives along one axis; layers, export and the kernels all use this.
#pragma once

#include <cstddef>

namespace mindsave {

enum class PadMode { same, valid, pad };

namespace detail {

// Output length along one axis for input n, window k, stride s (0 when the window does not fit).
constexpr std::size_t padded_output_size(PadMode mode, std::size_t n, std::size_t k, std::size_t s,
                                         std::size_t padding) noexcept {
    if (mode == PadMode::same) return (n + s - 1) / s;
    if (mode == PadMode::valid) return n >= k ? (n - k) / s + 1 : 0;
    return n + 2 * padding >= k ? (n + 2 * padding - k) / s + 1 : 0;
}

// Padding before the first element ('same' puts the odd pixel after the last, as TensorFlow does).
constexpr std::size_t padding_before(PadMode mode, std::size_t n, std::size_t out, std::size_t k, std::size_t s,
                                     std::size_t padding) noexcept {
    if (mode == PadMode::valid) return 0;
    if (mode == PadMode::pad) return padding;
    const std::size_t needed = out ? (out - 1) * s + k : 0;
    return (needed > n ? needed - n : 0) / 2;
}

// Padding after the last element: the rest of 'same''s total, or 'pad''s amount.
constexpr std::size_t padding_after(PadMode mode, std::size_t n, std::size_t out, std::size_t k, std::size_t s,
                                    std::size_t padding) noexcept {
    if (mode == PadMode::valid) return 0;
    if (mode == PadMode::pad) return padding;
    const std::size_t needed = out ? (out - 1) * s + k : 0;
    const std::size_t total = needed > n ? needed - n : 0;
    return total - total / 2;
}

}  // namespace detail
}  // namespace mindsave
