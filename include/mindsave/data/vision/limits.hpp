// The size limits a decoder checks before it allocates: an image header can claim any size, and a
// few hostile bytes must not make a program allocate gigabytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "mindsave/core/errors.hpp"

namespace mindsave::data::vision {

// max_pixels is Pillow's decompression-bomb limit (2 x MAX_IMAGE_PIXELS): larger images are refused.
struct DecodeLimits {
    std::uint64_t max_pixels = 178'956'970;
};

namespace detail {

inline void check_dimensions(std::uint64_t width, std::uint64_t height, const DecodeLimits& limits,
                             std::string_view file, const char* format) {
    if (width == 0 || height == 0)
        throw FormatError(std::filesystem::path(file), std::string(format) + " header gives an empty image (" + std::to_string(width) + "x" +
                                    std::to_string(height) + ")");
    if (width * height > limits.max_pixels)
        throw FormatError(std::filesystem::path(file), std::string(format) + " header claims " + std::to_string(width) + "x" +
                                    std::to_string(height) + " pixels, more than the limit of " +
                                    std::to_string(limits.max_pixels) +
                                    "; raise DecodeLimits::max_pixels if the image is genuine");
}

}  // namespace detail

}  // namespace mindsave::data::vision
