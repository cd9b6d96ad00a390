// format::ckpt: MindSpore's .ckpt, a stream of one-value Checkpoint messages (docs/formats.md section 1), read
// from a memory map as views, or copied (a small file by preadv: ckpt_stream.hpp), and written streaming
// from tensor memory, atomically.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/formats/ckpt_crc_footer.hpp"
#include "mindsave/formats/ckpt_stream.hpp"
#include "mindsave/formats/concepts.hpp"
#include "mindsave/formats/mapped.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/protobuf_wire.hpp"

namespace mindsave::format {

// Which MindSpore writer generation format::ckpt reproduces byte for byte.
enum class CkptWriter {
    v2_2,  // <= 2.2: scalars as dims [0]; an empty tensor is one record with empty content
    v2_3,  // >= 2.3: scalars without dims; an empty tensor writes no record
};
struct CkptWriteOptions {
    CkptWriter writer = CkptWriter::v2_3;
    bool crc = false;                                // append the "crc_num" footer (crc_check=True, >= 2.3)
    std::size_t slice_bytes = std::size_t{512} << 20;  // tensors larger than this are split (SLICE_SIZE)
};
struct CkptReadOptions {
    bool crc_check = false;  // verify the footer; a file without one is accepted (MindSpore warns)
};

struct ckpt {
    static constexpr std::string_view extension = ".ckpt";
    static constexpr std::size_t default_slice_bytes = std::size_t{512} << 20;

    using Writer = CkptWriter;
    using WriteOptions = CkptWriteOptions;
    using ReadOptions = CkptReadOptions;

    // A parsed file: record views into its bytes, plus the joined bytes of split tensors.
    class Contents {
    public:
        Contents() = default;
        Contents(Contents&&) noexcept = default;  // moving the vectors leaves their heap bytes where they are
        Contents& operator=(Contents&&) noexcept = default;
        Contents(const Contents&) = delete;  // a copy's views would point into the original's buffers
        Contents& operator=(const Contents&) = delete;

        const std::vector<RecordView>& records() const noexcept { return records_; }
        bool has_crc() const noexcept { return has_crc_; }
        std::uint32_t stored_crc() const noexcept { return stored_crc_; }
        // Whether the footer holds the CRC-32 of records_bytes (the file without its footer), as MindSpore
        // wrote it; parse checks this itself with crc_check.
        bool crc_matches(std::span<const std::byte> records_bytes) const {
            return has_crc_ && crc_well_formed_ && io::crc32(records_bytes) == stored_crc_;
        }

    private:
        friend struct ckpt;
        std::vector<RecordView> records_;
        // Views point into these buffers, which neither a move nor the outer vector's growth relocates
        // (an empty std::deque would cost two allocations per parse).
        std::vector<std::vector<std::byte>> joined_;
        bool has_crc_ = false;
        bool crc_well_formed_ = true;
        std::uint32_t stored_crc_ = 0;
    };

    // Parses bytes (file name for messages only). Views point into bytes, which must outlive them.
    static Contents parse(std::span<const std::byte> bytes, const std::filesystem::path& path,
                          const ReadOptions& options = {}) {
        Contents out;
        std::span<const std::byte> body = bytes;
        if (const auto footer = detail::crc_footer(body)) {
            out.has_crc_ = true;
            out.stored_crc_ = footer->crc;
            out.crc_well_formed_ = footer->well_formed;
            body = body.first(body.size() - detail::crc_footer_bytes);
            if (options.crc_check && !out.crc_matches(body))
                throw FormatError(path, "CRC-32 check failed: the stored checksum does not match the records "
                                        "(the file is damaged or was changed after saving)");
        }
        io::WireReader file(body);
        std::size_t index = 0;
        while (!file.at_end()) {
            RecordView r;
            try {
                io::WireType type;
                if (file.key(type) != 1 || type != io::WireType::length_delimited)
                    file.fail("expected Checkpoint.value (field 1)");
                const io::WireReader at_record = file;
                try {
                    const auto value = file.bytes();
                    parse_value(value, file.offset() - value.size(), r);
                } catch (const io::WireError&) {
                    if (r.name.empty()) r.name = peek_tag(at_record);
                    throw;
                }
            } catch (const io::WireError& e) {
                throw FormatError(path, "not a valid MindSpore checkpoint: record " + std::to_string(index) +
                                            (r.name.empty() ? "" : " ('" + std::string(r.name) + "')") + ": " +
                                            e.what + " at byte " + std::to_string(e.offset) +
                                            " (the file is truncated or corrupt)");
            }
            detail::ckpt_finish(r);
            ++index;
            auto& records = out.records_;
            if (!records.empty() && records.back().name == r.name) {  // a further piece of a split tensor
                auto& prev = records.back();
                if (prev.is_string != r.is_string || (!r.is_string && prev.dtype != r.dtype))
                    throw FormatError(path, "pieces of tensor '" + std::string(r.name) + "' disagree on type");
                const bool first_join = out.joined_.empty() || out.joined_.back().data() != prev.data.data();
                if (first_join) out.joined_.emplace_back(prev.data.begin(), prev.data.end());
                auto& buf = out.joined_.back();
                buf.insert(buf.end(), r.data.begin(), r.data.end());
                prev.data = buf;
                prev.shape = r.shape;
            } else {
                records.push_back(std::move(r));
            }
        }
        for (std::size_t i = 0; i < out.records_.size(); ++i) detail::ckpt_check_size(out.records_[i], i, path);
        return out;
    }

    // Records as views into the file's bytes: a memory map (zero copy), or a small file read whole.
    using Mapped = detail::MappedContents<ckpt>;

    // Files up to this size are read with preadv (format/ckpt_stream.hpp), larger ones through a map.
    static constexpr std::size_t stream_max_bytes = std::size_t{64} << 20;

    // Every record, copied out of the file, in file order (split tensors joined). Each tensor's bytes
    // are copied once, from the page cache straight into its record.
    static std::vector<TensorRecord> read(const std::filesystem::path& path, const ReadOptions& options = {}) {
        if (auto records = read_small(path, options)) return std::move(*records);
        return detail::read_records<ckpt>(path, options);  // parse's result, or its error naming the file
    }

    // The records keep(name) accepts, copied, in file order: load_checkpoint's read. A large file is
    // mapped and only the kept records are copied out.
    template <class Keep>
    static std::vector<TensorRecord> read_if(const std::filesystem::path& path, const ReadOptions& options, Keep&& keep) {
        if (auto records = read_small(path, options)) return detail::keep_only(std::move(*records), keep);
        return detail::read_records<ckpt>(path, options, keep);
    }

    // Writes records atomically to path, streaming each tensor's bytes from where they are.
    static void write(const std::filesystem::path& path, std::span<const RecordView> records,
                      const WriteOptions& options = {}) {
        write_staged(path, records, options).commit();
    }

    // write() up to its commit: when it returns every byte is in a temporary file beside path (the
    // records' memory may be reused) and commit() on the result makes it durable under path. An async
    // save frees its snapshot here, before the fsync.
    static io::AtomicFile write_staged(const std::filesystem::path& path, std::span<const RecordView> records,
                                       const WriteOptions& options = {}) {
        if (options.slice_bytes == 0) throw ConfigError("ckpt WriteOptions::slice_bytes must be > 0");
        io::AtomicFile file(path);
        // a buffer no larger than the file: a small checkpoint costs no big allocation
        Sink sink(file, options.crc, std::min(std::size_t{1} << 20, serialized_size(records, options)));
        for (const auto& r : records) write_record(sink, r, options);
        sink.flush();
        if (options.crc) {
            file.write(detail::encode_crc_footer(sink.crc));
        }
        return file;
    }

    // The exact size write() produces for records (no disk I/O).
    static std::size_t serialized_size(std::span<const RecordView> records, const WriteOptions& options = {}) {
        std::size_t total = options.crc ? 17 : 0;
        for (const auto& r : records)
            for_each_piece(r, options, [&](std::span<const std::byte> piece, bool scalar_dims) {
                total += header_size(r, piece.size(), scalar_dims).record + piece.size();
            });
        return total;
    }

private:
    // A file of at most stream_max_bytes in a layout the streaming read takes; nullopt otherwise.
    static std::optional<std::vector<TensorRecord>> read_small(const std::filesystem::path& path,
                                                               const ReadOptions& options) {
        struct stat st {};
        const auto fd = io::detail::open_for_reading(path, st);
        const auto size = static_cast<std::size_t>(st.st_size);
        if (size > stream_max_bytes) return std::nullopt;
        return detail::stream_ckpt(detail::FileSource{fd.get(), path}, size, options.crc_check);
    }

    // The tag of a record whose length runs past the end (a cut file), if its start is intact: for messages.
    static std::string_view peek_tag(io::WireReader r) noexcept {
        try {
            r.varint();  // the record's (too long) length
            io::WireType type;
            if (r.key(type) == 1 && type == io::WireType::length_delimited) return r.string();
        } catch (const io::WireError&) {
        }
        return {};
    }

    static void parse_value(std::span<const std::byte> value, std::size_t base, RecordView& r) {
        bool has_tag = false, has_tensor = false;
        io::WireReader v(value, base);
        while (!v.at_end()) {
            io::WireType type;
            const auto field = v.key(type);
            if (field == 1 && type == io::WireType::length_delimited) {
                r.name = v.string();
                has_tag = true;
            } else if (field == 2 && type == io::WireType::length_delimited) {
                const auto tensor = v.bytes();
                parse_tensor(tensor, v.offset() - tensor.size(), r);
                has_tensor = true;
            } else if (field == 3 && type == io::WireType::length_delimited) {
                v.fail("map-parameter records (MapTensorProto, embedding caches) are not supported");
            } else {
                v.skip(type);
            }
        }
        if (!has_tag || !has_tensor) v.fail("a Checkpoint.Value without its required tag or tensor");
    }

    static void parse_tensor(std::span<const std::byte> tensor, std::size_t base, RecordView& r) {
        io::WireReader t(tensor, base);
        bool has_type = false, has_content = false;
        while (!t.at_end()) {
            io::WireType type;
            const auto field = t.key(type);
            if (field == 1 && (type == io::WireType::varint || type == io::WireType::length_delimited)) {
                io::read_dims(t, type, r.shape);  // packed dims are tolerated
            } else if (field == 2 && type == io::WireType::length_delimited) {
                const auto name = t.string();
                if (name == "str") {
                    r.is_string = true;
                } else if (const auto dtype = parse_dtype(name)) {
                    r.dtype = *dtype;
                } else {
                    t.fail("unknown tensor_type '" + std::string(name.substr(0, 64)) +
                           "' (MindSpore's loader rejects it too; known: Bool, Int8..Int64, UInt8..UInt64, "
                           "Float16/32/64, BFloat16, str)");
                }
                has_type = true;
            } else if (field == 3 && type == io::WireType::length_delimited) {
                r.data = t.bytes();
                has_content = true;
            } else {
                t.skip(type);
            }
        }
        if (!has_type || !has_content) t.fail("a TensorProto without its required tensor_type or tensor_content");
    }

    struct HeaderSize {
        std::size_t tensor;  // TensorProto payload without the content bytes
        std::size_t value;   // Checkpoint.Value payload
        std::size_t record;  // the whole record without the content bytes
    };
    static HeaderSize header_size(const RecordView& r, std::size_t content, bool scalar_dims) {
        const std::string_view type = r.is_string ? "str" : dtype_name(r.dtype);
        std::size_t dims = 0;
        if (scalar_dims) dims = 2;  // 08 00
        else
            for (auto d : r.shape) dims += 1 + io::varint_size(d);
        const std::size_t tensor_payload = dims + io::length_delimited_size(2, type.size()) + 1 +
                                           io::varint_size(content) + content;
        const std::size_t value_payload =
            io::length_delimited_size(1, r.name.size()) + io::length_delimited_size(2, tensor_payload);
        const std::size_t record = 1 + io::varint_size(value_payload) + value_payload;
        return {tensor_payload - content, value_payload, record - content};
    }

    // Calls f(piece, scalar_dims) for each record the writer emits for r.
    template <class F>
    static void for_each_piece(const RecordView& r, const WriteOptions& o, F&& f) {
        const bool legacy = o.writer == Writer::v2_2;
        const bool scalar = r.is_string || (!r.is_string && r.shape.empty());
        const bool scalar_dims = r.is_string || (legacy && scalar);
        const std::size_t n = r.data.size();
        if (n == 0) {
            if (legacy || r.is_string) f(r.data, scalar_dims);  // >= 2.3 writes no record for 0 bytes
            return;
        }
        if (n <= o.slice_bytes) {
            f(r.data, scalar_dims);
            return;
        }
        const std::size_t parts = (n + o.slice_bytes - 1) / o.slice_bytes;
        if (!legacy) {  // >= 2.3: fixed raw-byte chunks
            for (std::size_t off = 0; off < n; off += o.slice_bytes)
                f(r.data.subspan(off, std::min(o.slice_bytes, n - off)), scalar_dims);
            return;
        }
        // <= 2.2: numpy.array_split of the flattened elements into `parts` near-equal parts
        const std::size_t esize = r.is_string ? 4 : dtype_size(r.dtype), elems = n / esize;
        const std::size_t base = elems / parts, extra = elems % parts;
        std::size_t off = 0;
        for (std::size_t p = 0; p < parts; ++p) {
            const std::size_t len = (base + (p < extra ? 1 : 0)) * esize;
            f(r.data.subspan(off, len), scalar_dims);
            off += len;
        }
    }

    // Buffers small writes; large contents go out by writev straight from tensor memory.
    struct Sink {
        Sink(io::AtomicFile& f, bool crc_on, std::size_t capacity)
            : file(f), with_crc(crc_on), buffer(std::make_unique_for_overwrite<std::byte[]>(capacity)),
              size(capacity) {}

        io::AtomicFile& file;
        bool with_crc;
        std::uint32_t crc = 0;
        std::unique_ptr<std::byte[]> buffer;  // not zero-filled: every byte is written before it is sent
        std::size_t size;
        std::size_t used = 0;

        std::byte* reserve(std::size_t n) {
            if (used + n > size) flush();
            if (n > size) {
                buffer = std::make_unique_for_overwrite<std::byte[]>(n);
                size = n;
            }
            return buffer.get() + used;
        }
        void commit(std::size_t n) {
            if (with_crc) crc = io::crc32({buffer.get() + used, n}, crc);
            used += n;
        }
        void content(std::span<const std::byte> bytes) {
            if (bytes.empty()) return;  // an empty tensor's data may be null: memcpy must not see it
            if (with_crc) crc = io::crc32(bytes, crc);
            if (used + bytes.size() <= size) {
                std::memcpy(buffer.get() + used, bytes.data(), bytes.size());
                used += bytes.size();
                return;
            }
            const std::span<const std::byte> pieces[2] = {{buffer.get(), used}, bytes};
            file.write(pieces);
            used = 0;
        }
        void flush() {
            if (used) file.write(std::span<const std::byte>(buffer.get(), used));
            used = 0;
        }
    };

    static void write_record(Sink& sink, const RecordView& r, const WriteOptions& o) {
        for_each_piece(r, o, [&](std::span<const std::byte> piece, bool scalar_dims) {
            const auto size = header_size(r, piece.size(), scalar_dims);
            const std::string_view type = r.is_string ? "str" : dtype_name(r.dtype);
            std::byte* const start = sink.reserve(size.record);
            std::byte* p = start;
            *p++ = std::byte{0x0a};
            p = io::put_varint(p, size.value);
            *p++ = std::byte{0x0a};
            p = io::put_varint(p, r.name.size());
            p = std::copy_n(reinterpret_cast<const std::byte*>(r.name.data()), r.name.size(), p);
            *p++ = std::byte{0x12};
            p = io::put_varint(p, size.tensor + piece.size());
            if (scalar_dims) {
                *p++ = std::byte{0x08};
                *p++ = std::byte{0x00};
            } else {
                for (auto d : r.shape) {
                    *p++ = std::byte{0x08};
                    p = io::put_varint(p, d);
                }
            }
            *p++ = std::byte{0x12};
            p = io::put_varint(p, type.size());
            p = std::copy_n(reinterpret_cast<const std::byte*>(type.data()), type.size(), p);
            *p++ = std::byte{0x1a};
            p = io::put_varint(p, piece.size());
            sink.commit(static_cast<std::size_t>(p - start));
            sink.content(piece);
        });
    }
};

static_assert(CheckpointFormat<ckpt> && MappedFormat<ckpt> && StagedFormat<ckpt>);

}  // namespace mindsave::format
