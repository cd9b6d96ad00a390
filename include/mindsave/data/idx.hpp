// The idx format of MNIST and Fashion-MNIST: bytes 00 00 <type> <ndim>, ndim big-endian uint32
// dimensions, then big-endian elements. Reads plain or gzip files; writes plain ones.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/byte_count.hpp"
#include "mindsave/core/dtype.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/tensor.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/read_file.hpp"

namespace mindsave::data {

// One idx file in memory: its element type, its dimensions and its elements as host-order bytes.
struct IdxArray {
    DType dtype = DType::UInt8;
    std::vector<std::size_t> dims;
    std::vector<std::uint8_t> data;

    std::size_t element_count() const noexcept { return mindsave::element_count(dims); }

    // The elements as T, which must be the array's own type (no conversion happens here).
    template <Element T>
    std::vector<T> values() const {
        if (dtype_of_v<T> != dtype)
            throw DTypeError("idx array holds " + std::string(dtype_name(dtype)) + ", not " +
                             std::string(dtype_name(dtype_of_v<T>)));
        std::vector<T> out(data.size() / sizeof(T));
        if (!out.empty()) std::memcpy(out.data(), data.data(), out.size() * sizeof(T));
        return out;
    }

    // An array of T with the given dimensions, for tests and tools that write idx files.
    template <Element T>
    static IdxArray of(std::vector<std::size_t> dims, std::span<const T> values) {
        IdxArray a{dtype_of_v<T>, std::move(dims), std::vector<std::uint8_t>(values.size_bytes())};
        if (!values.empty()) std::memcpy(a.data.data(), values.data(), values.size_bytes());
        return a;
    }
};

namespace detail {

struct IdxType {
    std::uint8_t code;
    DType dtype;
    std::string_view name;
};
inline constexpr std::array<IdxType, 6> idx_types{{
    {0x08, DType::UInt8, "unsigned byte"},
    {0x09, DType::Int8, "signed byte"},
    {0x0B, DType::Int16, "short"},
    {0x0C, DType::Int32, "int"},
    {0x0D, DType::Float32, "float"},
    {0x0E, DType::Float64, "double"},
}};
inline constexpr std::size_t idx_max_dims = 8;

inline const IdxType* idx_type_of_code(std::uint8_t code) noexcept {
    for (const auto& t : idx_types)
        if (t.code == code) return &t;
    return nullptr;
}
inline const IdxType* idx_type_of(DType dtype) noexcept {
    for (const auto& t : idx_types)
        if (t.dtype == dtype) return &t;
    return nullptr;
}

inline std::string hex_bytes(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i) s += ' ';
        s += digits[bytes[i] >> 4];
        s += digits[bytes[i] & 15];
    }
    return s;
}

// Reverses the bytes of each element in place; idx is big-endian, so little-endian hosts swap.
inline void to_or_from_big_endian(std::uint8_t* data, std::size_t count, std::size_t width) noexcept {
    if constexpr (std::endian::native == std::endian::big) return;
    for (std::size_t i = 0; i < count; ++i, data += width) {
        if (width == 2) {
            std::uint16_t v;
            std::memcpy(&v, data, 2);
            v = __builtin_bswap16(v);
            std::memcpy(data, &v, 2);
        } else if (width == 4) {
            std::uint32_t v;
            std::memcpy(&v, data, 4);
            v = __builtin_bswap32(v);
            std::memcpy(data, &v, 4);
        } else if (width == 8) {
            std::uint64_t v;
            std::memcpy(&v, data, 8);
            v = __builtin_bswap64(v);
            std::memcpy(data, &v, 8);
        }
    }
}

inline std::string dims_text(std::span<const std::size_t> dims, const IdxType& type) {
    return "dims " + shape_string(dims) + " of " + std::string(type.name) + " (" +
           std::to_string(dtype_size(type.dtype)) + " bytes each)";
}

}  // namespace detail

// Parses idx content already in memory (path only names it in errors). Every size is checked
// against the bytes present before it is used, so a hostile header cannot cause an allocation.
inline IdxArray parse_idx(std::vector<std::uint8_t> bytes, const std::filesystem::path& path) {
    const std::size_t n = bytes.size();
    if (n < 4 || bytes[0] != 0 || bytes[1] != 0)
        throw FormatError(path, "not an idx file: expected bytes 00 00 <type> <ndim>, found " +
                                    (n ? detail::hex_bytes(std::span(bytes.data(), std::min<std::size_t>(n, 4)))
                                       : std::string("an empty file")) +
                                    (n && n < 4 ? " (only " + std::to_string(n) + " bytes)" : ""));
    const detail::IdxType* type = detail::idx_type_of_code(bytes[2]);
    if (!type)
        throw FormatError(path, "unknown idx element type 0x" + detail::hex_bytes(std::span(bytes.data() + 2, 1)) +
                                    " in byte 2 (known: 08 unsigned byte, 09 signed byte, 0b short, 0c int, "
                                    "0d float, 0e double)");
    const std::size_t ndim = bytes[3];
    if (ndim == 0 || ndim > detail::idx_max_dims)
        throw FormatError(path, "idx dimension count " + std::to_string(ndim) + " in byte 3 is out of range 1.." +
                                    std::to_string(detail::idx_max_dims));
    const std::size_t header = 4 + 4 * ndim;
    if (n < header)
        throw FormatError(path, "truncated idx header: " + std::to_string(ndim) + " dimensions need " +
                                    std::to_string(header) + " header bytes, the content is only " +
                                    std::to_string(n) + " bytes");

    IdxArray out;
    out.dtype = type->dtype;
    out.dims.resize(ndim);
    for (std::size_t i = 0; i < ndim; ++i) {
        const std::uint8_t* p = bytes.data() + 4 + 4 * i;
        out.dims[i] = std::size_t{p[0]} << 24 | std::size_t{p[1]} << 16 | std::size_t{p[2]} << 8 | p[3];
    }

    // The product of the dimensions must match the bytes present; it is computed with overflow checks.
    const std::size_t width = dtype_size(type->dtype);
    const std::size_t available = n - header;
    const auto checked = checked_byte_count(out.dims, width);
    const bool overflow = !checked;
    const std::size_t need = checked.value_or(0);
    if (overflow || need > available)
        throw FormatError(path, "truncated idx data: " + detail::dims_text(out.dims, *type) + " need " +
                                    (overflow ? std::string("more than 2^64") : std::to_string(need)) +
                                    " bytes after the " + std::to_string(header) + "-byte header, the content has " +
                                    std::to_string(available));
    if (need < available)
        throw FormatError(path, std::to_string(available - need) + " trailing bytes after the idx data: " +
                                    detail::dims_text(out.dims, *type) + " need " + std::to_string(need) +
                                    " bytes after the " + std::to_string(header) +
                                    "-byte header, the content has " + std::to_string(available));

    bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
    detail::to_or_from_big_endian(bytes.data(), need / width, width);
    out.data = std::move(bytes);
    return out;
}

// Reads an idx file, plain or gzip-compressed. Throws FileError or FormatError naming the file.
inline IdxArray read_idx(const std::filesystem::path& path) {
    return parse_idx(io::read_file_maybe_gzip(path), path);
}

// Writes an uncompressed idx file (for tests and tools).
inline void write_idx(const std::filesystem::path& path, const IdxArray& array) {
    const detail::IdxType* type = detail::idx_type_of(array.dtype);
    if (!type)
        throw DTypeError("idx files cannot hold " + std::string(dtype_name(array.dtype)) + " (writing " +
                         path.string() + ")");
    if (array.dims.empty() || array.dims.size() > detail::idx_max_dims)
        throw ShapeError("idx arrays have 1 to 8 dimensions, got " + std::to_string(array.dims.size()) +
                         " (writing " + path.string() + ")");
    for (std::size_t d : array.dims)
        if (d > std::numeric_limits<std::uint32_t>::max())
            throw ShapeError("idx dimension " + std::to_string(d) + " does not fit in 32 bits (writing " +
                             path.string() + ")");
    const std::size_t width = dtype_size(array.dtype);
    if (array.data.size() != array.element_count() * width)
        throw ShapeError("idx array " + detail::dims_text(array.dims, *type) + " needs " +
                         std::to_string(array.element_count() * width) + " bytes of data, has " +
                         std::to_string(array.data.size()) + " (writing " + path.string() + ")");

    // Written atomically like every mindsave file: a crash never leaves a half-written idx file.
    io::AtomicFile file(path);
    auto write_all = [&](const std::uint8_t* p, std::size_t len) {
        file.write(std::as_bytes(std::span<const std::uint8_t>(p, len)));
    };

    std::vector<std::uint8_t> header{0, 0, type->code, static_cast<std::uint8_t>(array.dims.size())};
    for (std::size_t d : array.dims)
        for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<std::uint8_t>(d >> shift));
    write_all(header.data(), header.size());
    // Elements go out big-endian through a bounded buffer, never a full copy of the array.
    std::array<std::uint8_t, 1 << 16> chunk;
    for (std::size_t off = 0; off < array.data.size(); off += chunk.size()) {
        const std::size_t len = std::min(chunk.size(), array.data.size() - off);
        std::memcpy(chunk.data(), array.data.data() + off, len);
        detail::to_or_from_big_endian(chunk.data(), len / width, width);
        write_all(chunk.data(), len);
    }
    file.commit(0644);
}

}  // namespace mindsave::data
