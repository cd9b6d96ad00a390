// Element types as MindSpore names them ("Float32", ...), with their C++ types and sizes.
// The half-precision types are storage types: bit patterns with conversions to and from float.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <optional>
#include <string_view>

#include "mindsave/core/errors.hpp"

namespace mindsave {

// IEEE 754 binary16, stored as bits.
struct float16 {
    std::uint16_t bits = 0;

    static constexpr float16 from_float(float f) noexcept {
        const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
        const std::uint32_t sign = (x >> 16) & 0x8000u;
        const std::uint32_t exp = (x >> 23) & 0xffu;
        std::uint32_t mant = x & 0x7fffffu;
        if (exp == 0xff) return {static_cast<std::uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u))};
        const int e = static_cast<int>(exp) - 127 + 15;
        if (e >= 31) return {static_cast<std::uint16_t>(sign | 0x7c00u)};
        if (e <= 0) {  // subnormal or zero: shift with round-to-nearest-even
            if (e < -10) return {static_cast<std::uint16_t>(sign)};
            mant |= 0x800000u;
            const int shift = 14 - e;
            std::uint32_t half = mant >> shift;
            const std::uint32_t rem = mant & ((1u << shift) - 1u);
            const std::uint32_t mid = 1u << (shift - 1);
            if (rem > mid || (rem == mid && (half & 1u))) ++half;
            return {static_cast<std::uint16_t>(sign | half)};
        }
        std::uint32_t half = (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
        const std::uint32_t rem = mant & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into exponent: correct
        return {static_cast<std::uint16_t>(sign | half)};
    }

    constexpr float to_float() const noexcept {
        const std::uint32_t sign = (bits & 0x8000u) << 16;
        const std::uint32_t exp = (bits >> 10) & 0x1fu;
        std::uint32_t mant = bits & 0x3ffu;
        if (exp == 0) {
            if (mant == 0) return std::bit_cast<float>(sign);
            int e = -1;
            do { ++e; mant <<= 1; } while (!(mant & 0x400u));
            return std::bit_cast<float>(sign | ((127u - 15u - static_cast<std::uint32_t>(e)) << 23) |
                                        ((mant & 0x3ffu) << 13));
        }
        if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
        return std::bit_cast<float>(sign | ((exp + 127u - 15u) << 23) | (mant << 13));
    }
};

// bfloat16: the top half of a float32, rounded to nearest even.
struct bfloat16 {
    std::uint16_t bits = 0;

    static constexpr bfloat16 from_float(float f) noexcept {
        const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
        if ((x & 0x7fffffffu) > 0x7f800000u) return {static_cast<std::uint16_t>((x >> 16) | 0x40u)};
        const std::uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);
        return {static_cast<std::uint16_t>(rounded >> 16)};
    }
    constexpr float to_float() const noexcept {
        return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
    }
};

enum class DType : std::uint8_t {
    Bool, Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32, UInt64, Float16, Float32, Float64, BFloat16
};

namespace detail {
struct DTypeInfo {
    DType dtype;
    std::string_view name;  // MindSpore's str(dtype), the ckpt tensor_type
    std::size_t size;       // bytes per element
};
inline constexpr std::array<DTypeInfo, 13> dtype_table{{
    {DType::Bool, "Bool", 1},       {DType::Int8, "Int8", 1},         {DType::Int16, "Int16", 2},
    {DType::Int32, "Int32", 4},     {DType::Int64, "Int64", 8},       {DType::UInt8, "UInt8", 1},
    {DType::UInt16, "UInt16", 2},   {DType::UInt32, "UInt32", 4},     {DType::UInt64, "UInt64", 8},
    {DType::Float16, "Float16", 2}, {DType::Float32, "Float32", 4},   {DType::Float64, "Float64", 8},
    {DType::BFloat16, "BFloat16", 2},
}};
}  // namespace detail

constexpr std::string_view dtype_name(DType t) noexcept {
    return detail::dtype_table[static_cast<std::size_t>(t)].name;
}
constexpr std::size_t dtype_size(DType t) noexcept {
    return detail::dtype_table[static_cast<std::size_t>(t)].size;
}
constexpr bool is_floating(DType t) noexcept {
    return t == DType::Float16 || t == DType::Float32 || t == DType::Float64 || t == DType::BFloat16;
}
constexpr bool is_integral(DType t) noexcept { return !is_floating(t) && t != DType::Bool; }

// Parses MindSpore's name; MindSpore 1.0-1.5 spelled the unsigned types "Uint8", ..., accepted too.
constexpr std::optional<DType> parse_dtype(std::string_view name) noexcept {
    for (const auto& info : detail::dtype_table)
        if (info.name == name) return info.dtype;
    if (name == "Uint8") return DType::UInt8;
    if (name == "Uint16") return DType::UInt16;
    if (name == "Uint32") return DType::UInt32;
    if (name == "Uint64") return DType::UInt64;
    return std::nullopt;
}

// The DType of a C++ element type; a type without one is a compile-time error.
template <class T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<std::int8_t> { static constexpr DType value = DType::Int8; };
template <> struct dtype_of<std::int16_t> { static constexpr DType value = DType::Int16; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of<std::uint16_t> { static constexpr DType value = DType::UInt16; };
template <> struct dtype_of<std::uint32_t> { static constexpr DType value = DType::UInt32; };
template <> struct dtype_of<std::uint64_t> { static constexpr DType value = DType::UInt64; };
template <> struct dtype_of<float16> { static constexpr DType value = DType::Float16; };
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<bfloat16> { static constexpr DType value = DType::BFloat16; };
template <class T> inline constexpr DType dtype_of_v = dtype_of<T>::value;

template <class T>
concept Element = requires { dtype_of<T>::value; };

// The C++ element type of a DType, for code that switches on a runtime dtype once.
template <DType D> struct element_of;
template <> struct element_of<DType::Bool> { using type = bool; };
template <> struct element_of<DType::Int8> { using type = std::int8_t; };
template <> struct element_of<DType::Int16> { using type = std::int16_t; };
template <> struct element_of<DType::Int32> { using type = std::int32_t; };
template <> struct element_of<DType::Int64> { using type = std::int64_t; };
template <> struct element_of<DType::UInt8> { using type = std::uint8_t; };
template <> struct element_of<DType::UInt16> { using type = std::uint16_t; };
template <> struct element_of<DType::UInt32> { using type = std::uint32_t; };
template <> struct element_of<DType::UInt64> { using type = std::uint64_t; };
template <> struct element_of<DType::Float16> { using type = float16; };
template <> struct element_of<DType::Float32> { using type = float; };
template <> struct element_of<DType::Float64> { using type = double; };
template <> struct element_of<DType::BFloat16> { using type = bfloat16; };
template <DType D> using element_t = typename element_of<D>::type;

// Calls f(T{}) with the element type of a runtime dtype.
template <class F>
decltype(auto) visit_dtype(DType t, F&& f) {
    switch (t) {
        case DType::Bool: return f(bool{});
        case DType::Int8: return f(std::int8_t{});
        case DType::Int16: return f(std::int16_t{});
        case DType::Int32: return f(std::int32_t{});
        case DType::Int64: return f(std::int64_t{});
        case DType::UInt8: return f(std::uint8_t{});
        case DType::UInt16: return f(std::uint16_t{});
        case DType::UInt32: return f(std::uint32_t{});
        case DType::UInt64: return f(std::uint64_t{});
        case DType::Float16: return f(float16{});
        case DType::Float32: return f(float{});
        case DType::Float64: return f(double{});
        case DType::BFloat16: return f(bfloat16{});
    }
    throw DTypeError("unknown dtype code " + std::to_string(static_cast<int>(t)));
}

// Element value as double, for statistics and casts between dtypes.
template <class T>
constexpr double to_double(T v) noexcept {
    if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>) return v.to_float();
    else return static_cast<double>(v);
}
template <class T>
constexpr T from_double(double v) noexcept {
    if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>)
        return T::from_float(static_cast<float>(v));
    else if constexpr (std::is_same_v<T, bool>) return v != 0.0;
    else return static_cast<T>(v);
}

}  // namespace mindsave
