// Real: a double that can be a template argument on every compiler (Normal<0.02>, BatchNorm2d<C, 1e-3>).
// Clang before 18 has no floating-point template parameters; a class holding the double's bits is portable.
#pragma once

#include <bit>
#include <cstdint>

namespace mindsave {

// Converts implicitly both ways, so `template <Real Eps = 1e-5>` reads and is used as a double. The bits
// are kept exactly: two arguments give the same type exactly when they are the same double.
struct Real {
    std::uint64_t bits;

    constexpr Real(double v) noexcept : bits(std::bit_cast<std::uint64_t>(v)) {}  // NOLINT: implicit by design
    constexpr double value() const noexcept { return std::bit_cast<double>(bits); }
    constexpr operator double() const noexcept { return value(); }  // NOLINT: implicit by design
};

}  // namespace mindsave
