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
#include "mindsave/formats/planned_read.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/formats/safetensors_header.hpp"

namespace mindsave::format {

struct SafetensorsWriteOptions {
    bool crc = false;  // add metadata "crc_num" (MindSpore's crc_check=True)
    io::Durability durability = io::Durability::durable;  // page_cache: no fsync, as safetensors' own save
};
struct SafetensorsReadOptions {
    bool crc_check = false;  // verify "crc_num" when present; a file without one is accepted (MindSpore warns)
};


struct safetensors {
    static constexpr std::string_view extension = ".safetensors";
    static constexpr std::uint64_t max_header_bytes = detail::safetensors_max_header_bytes;

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

    using Entry = detail::SafetensorsEntry;  // a tensor as the header lists it

    // The header's length from a file's first 8 bytes, checked against the file's size.
    static std::size_t header_length(std::span<const std::byte> first, std::size_t file_size,
                                     const std::filesystem::path& path) {
        return detail::safetensors_header_length(first, file_size, path);
    }

    // The header text (after the 8-byte length) of a file whose data buffer holds data_size bytes: its
    // entries sorted by name, checked to tile the buffer; metadata and crc_num into out.
    static std::vector<Entry> parse_head(std::string_view text, std::size_t data_size, const std::filesystem::path& path,
                                         Contents& out) {
        if (const auto bad = io::detail::find_invalid_utf8(text); bad != std::string_view::npos)
            throw FormatError(path, "the safetensors header is not UTF-8 (byte " + std::to_string(8 + bad) + ")");
        out.header_bytes_ = text.size();
        std::vector<Entry> entries = detail::parse_safetensors_header(text, path, out.metadata_);
        detail::validate_safetensors_entries(entries, data_size, path);
        for (const auto& entry : out.metadata_) {  // not a structured binding: Clang 14 cannot capture one
            const auto& key = entry.first;
            if (entry.second == "Int4" && std::any_of(entries.begin(), entries.end(), [&](const Entry& e) { return e.name == key; }))
                throw FormatError(path, "tensor '" + key + "' is marked Int4 (MindSpore's qint4x2) in the metadata; "
                                        "mindsave has no packed 4-bit dtype");
        }
        for (const auto& [key, value] : out.metadata_) {
            if (key != "crc_num") continue;
            const auto crc = detail::parse_safetensors_crc(value);
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
                                         "what it was read into (a network, a dict) may be partly filled: load it again");
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
        return read_if(path, options, [](std::string_view) { return true; });
    }
    // The tensors keep(name) accepts: a large file through its plan, into one arena on every thread
    // (planned_read.hpp); a smaller one, or one checked against its CRC, copied from its mapping.
    template <class Keep>
    static std::vector<TensorRecord> read_if(const std::filesystem::path& path, const ReadOptions& options, Keep&& keep) {
        if (!options.crc_check && io::detail::size_or_zero(path) >= detail::planned_read_min_bytes)
            return detail::read_planned(Plan(path, options), keep);
        return detail::read_records<safetensors>(path, options, keep);
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
