// format::safetensors: the safetensors file as MindSpore >= 2.4 writes it (docs/formats.md section 1.9), read
// from a memory map as views with the reference reader's checks, and written atomically from tensor memory.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mindsave/core/byte_count.hpp"
#include "mindsave/core/endian.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/core/record_plan.hpp"
#include "mindsave/formats/concepts.hpp"
#include "mindsave/formats/mapped.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/json.hpp"

namespace mindsave::format {

struct SafetensorsWriteOptions {
    bool crc = false;  // add metadata "crc_num" (MindSpore's crc_check=True)
    io::Durability durability = io::Durability::durable;  // page_cache: no fsync, as safetensors' own save
};
struct SafetensorsReadOptions {
    bool crc_check = false;  // verify "crc_num" when present; a file without one is accepted (MindSpore warns)
};

namespace detail {

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


}  // namespace detail

struct safetensors {
    static constexpr std::string_view extension = ".safetensors";
    static constexpr std::uint64_t max_header_bytes = 100'000'000;  // the reference reader's limit

    using WriteOptions = SafetensorsWriteOptions;
    using ReadOptions = SafetensorsReadOptions;

    // A parsed file: record views (sorted by name, as MindSpore's loader returns them) and the metadata.
    class Contents {
    public:
        Contents() = default;
        Contents(Contents&&) noexcept = default;  // vector and deque moves keep the viewed names and buffers in place
        Contents& operator=(Contents&&) noexcept = default;
        Contents(const Contents&) = delete;  // a copy's views would point into the original
        Contents& operator=(const Contents&) = delete;

        const std::vector<RecordView>& records() const noexcept { return records_; }
        // "__metadata__" in file order ({"format": "ms", ...} for MindSpore's files; empty when absent).
        const std::vector<std::pair<std::string, std::string>>& metadata() const noexcept { return metadata_; }
        bool has_crc() const noexcept { return stored_crc_.has_value(); }
        std::uint32_t stored_crc() const noexcept { return stored_crc_.value_or(0); }
        std::size_t header_bytes() const noexcept { return header_bytes_; }

    private:
        friend struct safetensors;
        std::vector<std::string> names_;  // filled before the views are made; moving keeps the strings in place
        std::vector<RecordView> records_;
        std::vector<std::pair<std::string, std::string>> metadata_;
        std::optional<std::uint32_t> stored_crc_;
        std::size_t header_bytes_ = 0;
    };

    // A tensor as the header lists it: its bytes are [begin, end) of the data buffer after the header.
    struct Entry {
        std::string name;
        const detail::SafetensorsDType* type = nullptr;
        Shape shape;
        std::uint64_t begin = 0, end = 0;
    };

    // The header's length from a file's first 8 bytes, checked against the file's size.
    static std::size_t header_length(std::span<const std::byte> first, std::size_t file_size,
                                     const std::filesystem::path& path) {
        if (file_size < 8 || first.size() < 8)
            throw FormatError(path, "not a safetensors file: " + std::to_string(file_size) +
                                        " bytes, too short for the 8-byte header length");
        const std::uint64_t n = load_le(first.data(), 8);
        if (n > max_header_bytes)
            throw FormatError(path, "safetensors header length " + std::to_string(n) + " exceeds the format's limit of " +
                                        std::to_string(max_header_bytes) + " bytes (the file is damaged or not safetensors)");
        if (n > file_size - 8)
            throw FormatError(path, "safetensors header length " + std::to_string(n) + " runs past the end of the " +
                                        std::to_string(file_size) + "-byte file (the file is truncated)");
        return static_cast<std::size_t>(n);
    }

    // The header text (after the 8-byte length) of a file whose data buffer holds data_size bytes: its
    // entries sorted by name, checked to tile the buffer; metadata and crc_num into out.
    static std::vector<Entry> parse_head(std::string_view text, std::size_t data_size, const std::filesystem::path& path,
                                         Contents& out) {
        if (const auto bad = io::detail::find_invalid_utf8(text); bad != std::string_view::npos)
            throw FormatError(path, "the safetensors header is not UTF-8 (byte " + std::to_string(8 + bad) + ")");
        out.header_bytes_ = text.size();
        std::vector<Entry> entries = parse_header(text, path, out.metadata_);
        validate(entries, data_size, path);
        for (const auto& entry : out.metadata_) {  // not a structured binding: Clang 14 cannot capture one
            const auto& key = entry.first;
            if (entry.second == "Int4" && std::any_of(entries.begin(), entries.end(), [&](const Entry& e) { return e.name == key; }))
                throw FormatError(path, "tensor '" + key + "' is marked Int4 (MindSpore's qint4x2) in the metadata; "
                                        "mindsave has no packed 4-bit dtype");
        }
        for (const auto& [key, value] : out.metadata_) {
            if (key != "crc_num") continue;
            const auto crc = parse_crc(value);
            if (!crc) throw FormatError(path, "metadata crc_num '" + value.substr(0, 40) + "' is not a CRC-32 value");
            out.stored_crc_ = *crc;
        }
        std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
        return entries;
    }

    static FormatError crc_error(const std::filesystem::path& path, std::uint32_t stored, std::uint32_t computed) {
        return FormatError(path, "CRC-32 check failed: metadata crc_num is " + std::to_string(stored) +
                                     " but the tensors give " + std::to_string(computed) +
                                     " (the file is damaged or was changed after saving)");
    }

    // Parses bytes (file name for messages only). Views point into bytes, which must outlive them.
    static Contents parse(std::span<const std::byte> bytes, const std::filesystem::path& path,
                          const ReadOptions& options = {}) {
        const std::size_t n = header_length(bytes, bytes.size(), path);
        Contents out;
        const auto data = bytes.subspan(8 + n);
        std::vector<Entry> entries =
            parse_head({reinterpret_cast<const char*>(bytes.data()) + 8, n}, data.size(), path, out);
        out.names_.reserve(entries.size());
        for (auto& e : entries) out.names_.push_back(std::move(e.name));
        out.records_.reserve(entries.size());
        for (std::size_t i = 0; i < entries.size(); ++i)
            out.records_.push_back({out.names_[i], *entries[i].type->dtype, std::move(entries[i].shape),
                                    data.subspan(entries[i].begin, entries[i].end - entries[i].begin), false});

        if (options.crc_check && out.stored_crc_ && crc_of(out.records_) != *out.stored_crc_)
            throw crc_error(path, *out.stored_crc_, crc_of(out.records_));
        return out;
    }

    // Records as views into the file's bytes: a memory map (zero copy), or a small file read whole.
    using Mapped = detail::MappedContents<safetensors>;

    // A file planned for a load into a network: the header read (one pread for most files), then every
    // planned tensor read by preadv straight into its parameter. With crc_check the tensors are checked first.
    class Plan {
    public:
        explicit Plan(const std::filesystem::path& path, const ReadOptions& options = {}) : path_(path) {
            struct stat st {};
            fd_ = io::detail::open_for_reading(path, st);
            const auto size = static_cast<std::size_t>(st.st_size);
            std::vector<std::byte> head(std::min<std::size_t>(size, std::size_t{64} << 10));
            head.resize(io::detail::read_at(fd_.get(), head, 0, path));
            const std::size_t n = header_length(head, size, path);
            if (const std::size_t have = head.size(); have < 8 + n) {  // a header larger than the first read
                head.resize(8 + n);
                if (io::detail::read_at(fd_.get(), std::span(head).subspan(have), have, path) != 8 + n - have)
                    throw FormatError(path, "the file became shorter while its header was read");
            }
            Contents contents;
            entries_ = parse_head({reinterpret_cast<const char*>(head.data()) + 8, n}, size - 8 - n, path, contents);
            data_offset_ = 8 + n;
            headers_.reserve(entries_.size());
            for (const auto& e : entries_)
                headers_.push_back({e.name, *e.type->dtype, e.shape, false, static_cast<std::size_t>(e.end - e.begin)});
            if (options.crc_check && contents.has_crc()) {
                const auto crc = crc_of_file();
                if (crc != contents.stored_crc()) throw crc_error(path, contents.stored_crc(), crc);
            }
        }
        const std::vector<RecordHeader>& headers() const noexcept { return headers_; }
        void read(std::span<const ReadJob> jobs) const {
            std::vector<io::detail::FilePiece> pieces;
            pieces.reserve(jobs.size());
            for (const auto& job : jobs) {
                if (job.dest.size() != headers_[job.record].bytes)
                    throw Error("safetensors::Plan::read: the destination of '" + headers_[job.record].name + "' does not fit it");
                pieces.push_back({data_offset_ + static_cast<std::size_t>(entries_[job.record].begin), job.dest});
            }
            if (!io::detail::read_pieces(fd_.get(), std::move(pieces), path_))
                throw FormatError(path_, "the file became shorter while it was loaded (another process is writing it?); "
                                         "the network may be partly loaded: load it again");
        }

    private:
        // crc_of over the file: each name, then its tensor's bytes, in name order, read a chunk at a time.
        std::uint32_t crc_of_file() const {
            std::vector<std::byte> chunk(std::size_t{1} << 20);
            std::uint32_t crc = 0;
            for (const auto& e : entries_) {
                crc = io::crc32(std::as_bytes(std::span<const char>(e.name.data(), e.name.size())), crc);
                for (std::uint64_t at = e.begin; at < e.end;) {
                    const auto part = std::span(chunk).first(static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), e.end - at)));
                    if (io::detail::read_at(fd_.get(), part, data_offset_ + static_cast<std::size_t>(at), path_) != part.size())
                        throw FormatError(path_, "the file became shorter while it was checked");
                    crc = io::crc32(part, crc);
                    at += part.size();
                }
            }
            return crc;
        }

        std::filesystem::path path_;
        io::detail::Descriptor fd_;
        std::vector<Entry> entries_;  // sorted by name, as headers_
        std::vector<RecordHeader> headers_;
        std::size_t data_offset_ = 0;
    };

    // Every tensor, copied out of the file, sorted by name.
    static std::vector<TensorRecord> read(const std::filesystem::path& path, const ReadOptions& options = {}) {
        return detail::read_records<safetensors>(path, options);
    }

    // Writes records atomically as MindSpore's save_checkpoint(format="safetensors") does (the
    // reference writer's layout: larger dtypes first, then by name; header padded to 8 bytes).
    static void write(const std::filesystem::path& path, std::span<const RecordView> records,
                      const WriteOptions& options = {}) {
        const Layout layout = plan(records, options);
        std::byte length[8];
        store_le(length, layout.header.size(), 8);
        std::vector<std::span<const std::byte>> pieces;
        pieces.reserve(records.size() + 2);
        pieces.emplace_back(length, 8);
        pieces.push_back(std::as_bytes(std::span<const char>(layout.header)));
        for (const auto i : layout.order)
            if (!records[i].data.empty()) pieces.push_back(records[i].data);
        io::AtomicFile file(path);
        file.write(pieces);
        file.commit(0400, options.durability);
    }

    // The exact size write() produces for records (no disk I/O).
    static std::size_t serialized_size(std::span<const RecordView> records, const WriteOptions& options = {}) {
        const Layout layout = plan(records, options);
        std::size_t total = 8 + layout.header.size();
        for (const auto& r : records) total += r.data.size();
        return total;
    }

private:

    static std::vector<Entry> parse_header(std::string_view text, const std::filesystem::path& path,
                                           std::vector<std::pair<std::string, std::string>>& metadata) {
        std::vector<Entry> entries;
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
                entries.push_back(parse_entry(j, std::move(key)));
            }
            current.clear();
            j.end();
        } catch (const io::detail::JsonError& e) {
            throw FormatError(path, "the safetensors header is not valid: " + e.what + " at byte " +
                                        std::to_string(8 + e.offset) +
                                        (current.empty() ? "" : " (in the entry '" + current.substr(0, 200) + "')"));
        }
        std::vector<const Entry*> by_name;
        by_name.reserve(entries.size());
        for (const auto& e : entries) by_name.push_back(&e);
        std::sort(by_name.begin(), by_name.end(), [](const Entry* a, const Entry* b) { return a->name < b->name; });
        for (std::size_t i = 1; i < by_name.size(); ++i)
            if (by_name[i]->name == by_name[i - 1]->name)
                throw FormatError(path, "tensor '" + by_name[i]->name + "' appears twice in the safetensors header");
        return entries;
    }

    static Entry parse_entry(io::detail::JsonReader& j, std::string name) {
        Entry e;
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

    // The reference reader's rules: in offset order the tensors tile the data buffer exactly, and
    // each holds shape x dtype size bytes.
    static void validate(std::vector<Entry>& entries, std::size_t data_size, const std::filesystem::path& path) {
        std::vector<const Entry*> order;
        order.reserve(entries.size());
        for (const auto& e : entries) order.push_back(&e);
        std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
            return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
        });
        std::uint64_t start = 0;
        const Entry* previous = nullptr;
        for (const Entry* e : order) {
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

    static std::optional<std::uint32_t> parse_crc(std::string_view s) noexcept {
        if (s.empty() || s.size() > 10) return std::nullopt;
        std::uint64_t v = 0;
        for (const char c : s) {
            if (c < '0' || c > '9') return std::nullopt;
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (v > UINT32_MAX) return std::nullopt;
        return static_cast<std::uint32_t>(v);
    }

    // MindSpore's crc_num: over the names in sorted order, each name's UTF-8 bytes then its tensor bytes.
    static std::uint32_t crc_of(std::span<const RecordView> sorted) noexcept {
        std::uint32_t crc = 0;
        for (const auto& r : sorted) {
            crc = io::crc32(std::as_bytes(std::span<const char>(r.name.data(), r.name.size())), crc);
            crc = io::crc32(r.data, crc);
        }
        return crc;
    }

    struct Layout {
        std::string header;              // JSON, padded with spaces to a multiple of 8
        std::vector<std::size_t> order;  // record indices in file order
    };

    static Layout plan(std::span<const RecordView> records, const WriteOptions& options) {
        for (const auto& r : records) {
            if (r.is_string)
                throw DTypeError("'" + std::string(r.name) + "' is a str value: safetensors holds tensors only "
                                 "(MindSpore cannot save it as safetensors either); drop it first");
            if (io::detail::find_invalid_utf8(r.name) != std::string_view::npos)
                throw ParameterError("tensor name '" + std::string(r.name) + "' is not UTF-8: safetensors needs UTF-8 names");
            if (r.name == "__metadata__")
                throw ParameterError("a tensor may not be named '__metadata__' in safetensors (the key is reserved)");
            const auto need = checked_byte_count(r.shape, dtype_size(r.dtype));
            if (!need || *need != r.data.size())
                throw ShapeError("tensor '" + std::string(r.name) + "': shape " + shape_string(r.shape) + " of " +
                                 std::string(dtype_name(r.dtype)) + " does not match its " + std::to_string(r.data.size()) +
                                 " bytes");
        }
        std::vector<std::size_t> by_name(records.size());
        std::iota(by_name.begin(), by_name.end(), std::size_t{0});
        std::sort(by_name.begin(), by_name.end(),
                  [&](std::size_t a, std::size_t b) { return records[a].name < records[b].name; });
        for (std::size_t i = 1; i < by_name.size(); ++i)
            if (records[by_name[i]].name == records[by_name[i - 1]].name)
                throw ParameterError("tensor '" + std::string(records[by_name[i]].name) +
                                     "' is given twice: safetensors names are unique");
        Layout layout;
        layout.order = by_name;
        std::stable_sort(layout.order.begin(), layout.order.end(), [&](std::size_t a, std::size_t b) {
            return detail::safetensors_dtype(records[a].dtype).alignment_rank >
                   detail::safetensors_dtype(records[b].dtype).alignment_rank;
        });

        std::string& h = layout.header;
        h = "{";
        if (!records.empty()) {  // MindSpore passes no metadata for an empty dict
            h += "\"__metadata__\":{\"format\":\"ms\"";
            if (options.crc) {
                std::vector<RecordView> sorted;
                sorted.reserve(records.size());
                for (const auto i : by_name) sorted.push_back(records[i]);
                h.append(",\"crc_num\":\"").append(std::to_string(crc_of(sorted))).append("\"");
            }
            h += "}";
        }
        std::size_t offset = 0;
        for (const auto i : layout.order) {
            const auto& r = records[i];
            if (h.size() > 1) h += ',';
            io::detail::append_json_string(h, r.name);
            h += ":{\"dtype\":\"";
            h += detail::safetensors_dtype(r.dtype).name;
            h += "\",\"shape\":[";
            for (std::size_t d = 0; d < r.shape.size(); ++d) h.append(d ? "," : "").append(std::to_string(r.shape[d]));
            h.append("],\"data_offsets\":[").append(std::to_string(offset)).append(",");  // (appends: GCC 12 -Wrestrict)
            h.append(std::to_string(offset + r.data.size())).append("]}");
            offset += r.data.size();
        }
        h += "}";
        h.append((8 - h.size() % 8) % 8, ' ');
        return layout;
    }
};

static_assert(CheckpointFormat<safetensors> && MappedFormat<safetensors>);

}  // namespace mindsave::format
