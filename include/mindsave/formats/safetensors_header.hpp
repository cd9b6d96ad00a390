// The safetensors header (docs/formats.md section 1.9): its 8-byte length, the JSON text of tensor entries
// and metadata, parsed and checked as the reference reader checks them; the dtype table. For format::safetensors.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mindsave/core/byte_count.hpp"
#include "mindsave/core/dtype.hpp"
#include "mindsave/core/endian.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/tensor.hpp"
#include "mindsave/io/json.hpp"

namespace mindsave::format::detail {

struct SafetensorsDType {
    std::string_view name;
    std::optional<DType> dtype;  // nullopt: a safetensors dtype with no mindsave counterpart
    std::size_t size;
    int alignment_rank;  // the reference writer's order: larger first in the file
};
// The reference crate's dtypes, in its enum (alignment) order, then later additions.
inline constexpr std::array<SafetensorsDType, 20> safetensors_dtypes{{
    {"BOOL", DType::Bool, 1, 0},       {"U8", DType::UInt8, 1, 1},        {"I8", DType::Int8, 1, 2},
    {"F8_E5M2", std::nullopt, 1, 3},   {"F8_E4M3", std::nullopt, 1, 4},   {"I16", DType::Int16, 2, 5},
    {"U16", DType::UInt16, 2, 6},      {"F16", DType::Float16, 2, 7},     {"BF16", DType::BFloat16, 2, 8},
    {"I32", DType::Int32, 4, 9},       {"U32", DType::UInt32, 4, 10},     {"F32", DType::Float32, 4, 11},
    {"F64", DType::Float64, 8, 12},    {"I64", DType::Int64, 8, 13},      {"U64", DType::UInt64, 8, 14},
    {"F8_E8M0", std::nullopt, 1, 3},   {"F4", std::nullopt, 1, 0},        {"F6_E2M3", std::nullopt, 1, 0},
    {"F6_E3M2", std::nullopt, 1, 0},   {"C64", std::nullopt, 8, 12},
}};

inline const SafetensorsDType& safetensors_dtype(DType t) {
    for (const auto& d : safetensors_dtypes)
        if (d.dtype == t) return d;
    throw DTypeError("no safetensors dtype for " + std::string(dtype_name(t)));
}

inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;  // the reference reader's limit

// A tensor as the header lists it: its bytes are [begin, end) of the data buffer after the header.
struct SafetensorsEntry {
    std::string name;
    const SafetensorsDType* type = nullptr;
    Shape shape;
    std::uint64_t begin = 0, end = 0;
};

// The header's length from a file's first 8 bytes, checked against the file's size.
inline std::size_t safetensors_header_length(std::span<const std::byte> first, std::size_t file_size,
                                             const std::filesystem::path& path) {
    if (file_size < 8 || first.size() < 8)
        throw FormatError(path, "not a safetensors file: " + std::to_string(file_size) +
                                    " bytes, too short for the 8-byte header length");
    const std::uint64_t n = load_le(first.data(), 8);
    if (n > safetensors_max_header_bytes)
        throw FormatError(path, "safetensors header length " + std::to_string(n) + " exceeds the format's limit of " +
                                    std::to_string(safetensors_max_header_bytes) +
                                    " bytes (the file is damaged or not safetensors)");
    if (n > file_size - 8)
        throw FormatError(path, "safetensors header length " + std::to_string(n) + " runs past the end of the " +
                                    std::to_string(file_size) + "-byte file (the file is truncated)");
    return static_cast<std::size_t>(n);
}

inline SafetensorsEntry parse_safetensors_entry(io::detail::JsonReader& j, std::string name) {
    SafetensorsEntry e;
    e.name = std::move(name);
    if (j.peek() != '{') j.fail("a tensor entry is not an object {dtype, shape, data_offsets}");
    j.begin_object();
    std::string field, dtype;
    bool has_dtype = false, has_shape = false, has_offsets = false;
    while (j.next_member(field)) {
        if (field == "dtype") {
            if (has_dtype) j.fail("duplicate field 'dtype'");
            has_dtype = true;
            dtype = j.string();
        } else if (field == "shape") {
            if (has_shape) j.fail("duplicate field 'shape'");
            has_shape = true;
            if (j.peek() != '[') j.fail("'shape' is not an array of integers");
            j.begin_array();
            while (j.next_element()) {
                if (e.shape.size() == max_tensor_rank) j.fail("more than " + std::to_string(max_tensor_rank) + " dims");
                e.shape.push_back(static_cast<std::size_t>(j.uint64()));
            }
        } else if (field == "data_offsets") {
            if (has_offsets) j.fail("duplicate field 'data_offsets'");
            has_offsets = true;
            if (j.peek() != '[') j.fail("'data_offsets' is not an array [begin, end]");
            j.begin_array();
            if (!j.next_element()) j.fail("'data_offsets' needs two integers [begin, end]");
            e.begin = j.uint64();
            if (!j.next_element()) j.fail("'data_offsets' needs two integers [begin, end]");
            e.end = j.uint64();
            if (j.next_element()) j.fail("'data_offsets' has more than two integers");
        } else {
            j.skip_value();  // the reference reader ignores unknown fields
        }
    }
    if (!has_dtype || !has_shape || !has_offsets)
        j.fail(std::string("a tensor entry lacks '") + (!has_dtype ? "dtype" : !has_shape ? "shape" : "data_offsets") + "'");
    for (const auto& d : detail::safetensors_dtypes)
        if (d.name == dtype) e.type = &d;
    if (!e.type)
        j.fail("unknown dtype '" + dtype.substr(0, 40) +
               "' (safetensors has BOOL, U8..U64, I8..I64, F16, BF16, F32, F64, F8_*)");
    if (!e.type->dtype) j.fail("dtype " + dtype + " has no counterpart in mindsave (nor in MindSpore's checkpoints)");
    return e;
}

// The header's JSON text: tensor entries in file order (names checked unique) and "__metadata__" into metadata.
inline std::vector<SafetensorsEntry> parse_safetensors_header(std::string_view text, const std::filesystem::path& path,
                                                              std::vector<std::pair<std::string, std::string>>& metadata) {
    std::vector<SafetensorsEntry> entries;
    std::string current;  // the entry being read, for messages
    try {
        io::detail::JsonReader j(text);
        if (j.peek() != '{') j.fail("the header is not a JSON object");
        j.begin_object();
        std::string key;
        bool seen_metadata = false;
        while (j.next_member(key)) {
            if (key == "__metadata__") {
                if (seen_metadata) j.fail("__metadata__ appears twice");
                seen_metadata = true;
                current = key;
                if (j.null()) continue;
                if (j.peek() != '{') j.fail("__metadata__ is not an object of strings");
                j.begin_object();
                std::string k;
                while (j.next_member(k)) {
                    if (j.peek() != '"') j.fail("__metadata__ value of '" + k + "' is not a string");
                    metadata.emplace_back(std::move(k), j.string());
                }
                continue;
            }
            current = key;
            entries.push_back(parse_safetensors_entry(j, std::move(key)));
        }
        current.clear();
        j.end();
    } catch (const io::detail::JsonError& e) {
        throw FormatError(path, "the safetensors header is not valid: " + e.what + " at byte " +
                                    std::to_string(8 + e.offset) +
                                    (current.empty() ? "" : " (in the entry '" + current.substr(0, 200) + "')"));
    }
    std::vector<const SafetensorsEntry*> by_name;
    by_name.reserve(entries.size());
    for (const auto& e : entries) by_name.push_back(&e);
    std::sort(by_name.begin(), by_name.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) { return a->name < b->name; });
    for (std::size_t i = 1; i < by_name.size(); ++i)
        if (by_name[i]->name == by_name[i - 1]->name)
            throw FormatError(path, "tensor '" + by_name[i]->name + "' appears twice in the safetensors header");
    return entries;
}

// The reference reader's rules: in offset order the tensors tile the data buffer exactly, and
// each holds shape x dtype size bytes.
inline void validate_safetensors_entries(std::vector<SafetensorsEntry>& entries, std::size_t data_size,
                                         const std::filesystem::path& path) {
    std::vector<const SafetensorsEntry*> order;
    order.reserve(entries.size());
    for (const auto& e : entries) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    std::uint64_t start = 0;
    const SafetensorsEntry* previous = nullptr;
    for (const SafetensorsEntry* e : order) {
        const std::string where = "tensor '" + e->name + "': data_offsets [" + std::to_string(e->begin) + ", " +
                                  std::to_string(e->end) + "]";
        if (e->end < e->begin) throw FormatError(path, where + " end before they begin");
        if (e->begin != start)
            throw FormatError(path, where + (e->begin < start ? " overlap the previous tensor" : " leave a gap of " +
                                             std::to_string(e->begin - start) + " bytes after the previous tensor") +
                                        (previous ? " '" + previous->name + "'" : "") +
                                        " (tensors must tile the data buffer in order)");
        const auto need = checked_byte_count(e->shape, e->type->size);
        if (!need)
            throw FormatError(path, where + ": shape " + shape_string(e->shape) + " of " + std::string(e->type->name) +
                                        " overflows");
        if (*need != e->end - e->begin)
            throw FormatError(path, where + ": shape " + shape_string(e->shape) + " of " + std::string(e->type->name) +
                                        " needs " + std::to_string(*need) + " bytes, the offsets hold " +
                                        std::to_string(e->end - e->begin));
        start = e->end;
        previous = e;
    }
    if (start != data_size)
        throw FormatError(path, "the tensors cover " + std::to_string(start) + " bytes but " + std::to_string(data_size) +
                                    " bytes follow the header (the file is truncated or has bytes no tensor owns)");
}

// metadata "crc_num": a CRC-32 in decimal, as MindSpore writes it; nullopt for anything else.
inline std::optional<std::uint32_t> parse_safetensors_crc(std::string_view s) noexcept {
    if (s.empty() || s.size() > 10) return std::nullopt;
    std::uint64_t v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (v > UINT32_MAX) return std::nullopt;
    return static_cast<std::uint32_t>(v);
}

}  // namespace mindsave::format::detail
