// format::ckpt: MindSpore's .ckpt, a stream of one-value Checkpoint messages (docs/formats.md section 1), read
// from a memory map as views, or copied (a small file by preadv: ckpt_file_reader.hpp), and written streaming
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
#include "mindsave/core/record_plan.hpp"
#include "mindsave/formats/ckpt_crc_footer.hpp"
#include "mindsave/formats/ckpt_file_reader.hpp"
#include "mindsave/formats/ckpt_fields.hpp"
#include "mindsave/formats/ckpt_records.hpp"
#include "mindsave/formats/concepts.hpp"
#include "mindsave/formats/mapped.hpp"
#include "mindsave/formats/planned_read.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/io/cipher.hpp"
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
    io::Durability durability = io::Durability::durable;  // page_cache: no fsync, as MindSpore's own save
    std::string enc_key{};              // non-empty: encrypt as MindSpore's enc_key (needs mindsave/io/crypto.hpp)
    std::string enc_mode = "AES-GCM";   // "AES-GCM", "AES-CBC" or "SM4-CBC"
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
            if (options.crc_check && !out.crc_matches(body)) throw detail::ckpt_crc_error(path);
        }
        detail::CkptMemoryWindow window{body};
        auto& records = out.records_;
        for (std::size_t pos = 0, index = 0; pos < body.size(); ++index) {
            auto h = detail::ckpt_next_record(window, pos, body.size(), index, path);
            pos = h.end;
            const auto data = body.subspan(h.content, h.length);
            if (records.empty() ||
                !detail::ckpt_continues(records.back().name, records.back().is_string, records.back().dtype, h, path)) {
                records.push_back({h.name, h.dtype, std::move(h.shape), data, h.is_string});
                continue;
            }
            // a further piece of a split tensor: the pieces are joined in a buffer of their own
            auto& prev = records.back();
            const bool first_join = out.joined_.empty() || out.joined_.back().data() != prev.data.data();
            if (first_join) out.joined_.emplace_back(prev.data.begin(), prev.data.end());
            auto& buf = out.joined_.back();
            buf.insert(buf.end(), data.begin(), data.end());
            prev.data = buf;
            prev.shape = std::move(h.shape);
        }
        for (std::size_t i = 0; i < records.size(); ++i) detail::ckpt_check_size(records[i], i, path);
        return out;
    }

    // Records as views into the file's bytes: a memory map (zero copy), or a small file read whole.
    using Mapped = detail::MappedContents<ckpt>;

    // Files up to this size are read with preadv (ckpt_file_reader.hpp), larger ones through a map.
    static constexpr std::size_t stream_max_bytes = std::size_t{64} << 20;

    // Every record, copied out of the file, in file order (split tensors joined). Each tensor's bytes
    // are copied once, from the page cache straight into its record.
    static std::vector<TensorRecord> read(const std::filesystem::path& path, const ReadOptions& options = {}) {
        return read_if(path, options, [](std::string_view) { return true; });
    }
    // The records of a decrypted file's bytes (load_checkpoint with dec_key): the plaintext is the record
    // stream of an unencrypted file.
    static std::vector<TensorRecord> from_plaintext(std::span<const std::byte> plain, const std::filesystem::path& path,
                                                    const ReadOptions& options = {}) {
        return copy_records(parse(plain, path, options).records());
    }

    // The records keep(name) accepts, copied, in file order: load_checkpoint's read. A large file is planned
    // (headers first) and its kept tensors read into one arena on every thread (planned_read.hpp); a smaller
    // one passes through a window (ckpt_file_reader.hpp); a large one checked against its CRC is mapped.
    template <class Keep>
    static std::vector<TensorRecord> read_if(const std::filesystem::path& path, const ReadOptions& options, Keep&& keep) {
        struct stat st {};
        auto fd = io::detail::open_for_reading(path, st);
        const auto size = static_cast<std::size_t>(st.st_size);
        if (!options.crc_check && size >= detail::planned_read_min_bytes)
            return detail::read_planned(Plan(std::move(fd), size, {}, path, options), keep);
        if (size <= stream_max_bytes)
            return detail::keep_only(detail::read_ckpt(detail::FileSource{fd.get(), path}, size, path, options.crc_check), keep);
        return detail::read_records<ckpt>(path, options, keep);  // parse's result, or its error naming the file
    }

    // A file planned for a load into a network (load_param_into_net(net, file)): every record's header now,
    // read hopping from header to header; the bytes later, by preadv straight into the parameters.
    class Plan {
    public:
        explicit Plan(const std::filesystem::path& path, const ReadOptions& options = {}) : path_(path) {
            struct stat st {};
            fd_ = io::detail::open_for_reading(path, st);
            const detail::FileSource source{fd_.get(), path_};
            detail::CkptFileReader<detail::FileSource> reader(source, static_cast<std::size_t>(st.st_size), path_, plan_window);
            layout_ = reader.layout(options.crc_check);
        }
        // The same for a file already open on fd whose first bytes were read (format::any detects the format
        // from them): one open and one read fewer.
        Plan(io::detail::Descriptor fd, std::size_t size, std::span<const std::byte> head, const std::filesystem::path& path,
             const ReadOptions& options)
            : path_(path), fd_(std::move(fd)) {
            const detail::FileSource source{fd_.get(), path_};
            detail::CkptFileReader<detail::FileSource> reader(source, size, path_, plan_window);
            reader.prime(head);
            layout_ = reader.layout(options.crc_check);
        }
        static constexpr std::size_t plan_window = std::size_t{4} << 10;  // one header and then some, per hop
        const std::vector<RecordHeader>& headers() const noexcept { return layout_.headers; }
        // Each job's record, all its pieces, from the file into job.dest.
        void read(std::span<const ReadJob> jobs) const {
            std::vector<io::detail::FilePiece> pieces;
            for (const auto& job : jobs) {
                if (job.dest.size() != headers()[job.record].bytes)
                    throw Error("ckpt::Plan::read: the destination of '" + headers()[job.record].name + "' does not fit it");
                std::size_t at = 0;
                for (auto e = layout_.first_extent[job.record]; e < layout_.first_extent[job.record + 1]; ++e) {
                    const auto& extent = layout_.extents[e];
                    pieces.push_back({extent.offset, job.dest.subspan(at, extent.length)});
                    at += extent.length;
                }
            }
            if (!io::detail::read_pieces(fd_.get(), std::move(pieces), path_))
                throw FormatError(path_, "the file became shorter while it was loaded (another process is writing it?); "
                                         "what it was read into (a network, a dict) may be partly filled: load it again");
        }

    private:
        std::filesystem::path path_;
        io::detail::Descriptor fd_;
        detail::CkptLayout layout_;
    };

    // Writes records atomically to path, streaming each tensor's bytes from where they are.
    static void write(const std::filesystem::path& path, std::span<const RecordView> records,
                      const WriteOptions& options = {}) {
        write_staged(path, records, options).commit(0400, options.durability);
    }

    // write() up to its commit: when it returns every byte is in a temporary file beside path (the
    // records' memory may be reused) and commit() on the result makes it durable under path. An async
    // save frees its snapshot here, before the fsync.
    static io::AtomicFile write_staged(const std::filesystem::path& path, std::span<const RecordView> records,
                                       const WriteOptions& options = {}) {
        if (options.slice_bytes == 0) throw ConfigError("ckpt WriteOptions::slice_bytes must be > 0");
        if (!options.enc_key.empty()) return write_encrypted(path, records, options);
        io::AtomicFile file(path);
        // a buffer for the headers, no larger than the file: a small checkpoint costs no big allocation
        Sink<io::AtomicFile> sink(file, options.crc, std::min(std::size_t{64} << 10, serialized_size(records, options)));
        for (const auto& r : records) write_record(sink, r, options);
        sink.flush();
        if (options.crc) {
            file.write(detail::encode_crc_footer(sink.crc));
        }
        return file;
    }

    // With enc_key: the record stream is built in memory, encrypted in MindSpore's blocks, then written.
    // MindSpore would append the plain crc_num footer after the cipher blocks, which breaks its own
    // decryption; that combination is refused instead.
    static io::AtomicFile write_encrypted(const std::filesystem::path& path, std::span<const RecordView> records,
                                          const WriteOptions& options) {
        const CipherKey key(options.enc_key, options.enc_mode, "save_checkpoint");
        if (options.crc)
            throw ConfigError("save_checkpoint: crc_check and enc_key cannot be used together (MindSpore documents "
                              "them as exclusive: the footer would follow the cipher blocks and break decryption)");
        mindsave::detail::require_cipher("save_checkpoint");  // before any plaintext exists
        struct Plaintext {
            std::vector<std::byte> bytes;
            void write(std::span<const std::span<const std::byte>> pieces) {
                for (const auto& p : pieces) bytes.insert(bytes.end(), p.begin(), p.end());
            }
            ~Plaintext() { mindsave::detail::wipe(bytes); }  // however the save ends
        } plain;
        plain.bytes.reserve(serialized_size(records, options));  // one buffer: no copy left behind by regrowth
        {
            Sink<Plaintext> sink(plain, false, std::min(std::size_t{64} << 10, plain.bytes.capacity()));
            for (const auto& r : records) write_record(sink, r, options);
            sink.flush();
            mindsave::detail::wipe({sink.buffer.get(), sink.size});
        }
        const auto cipher = mindsave::detail::encrypt_blocks(plain.bytes, key, "save_checkpoint");
        io::AtomicFile file(path);
        file.write(cipher);
        return file;
    }

    // The exact size write() produces for records (no disk I/O, no encryption).
    static std::size_t serialized_size(std::span<const RecordView> records, const WriteOptions& options = {}) {
        std::size_t total = options.crc ? 17 : 0;
        for (const auto& r : records)
            for_each_piece(r, options, [&](std::span<const std::byte> piece, bool scalar_dims) {
                total += header_size(r, piece.size(), scalar_dims).record + piece.size();
            });
        return total;
    }

private:
    using Checkpoint = proto::ckpt::Checkpoint;
    using CheckpointValue = proto::ckpt::CheckpointValue;
    using TensorProto = proto::ckpt::TensorProto;
    static constexpr auto ld = io::WireType::length_delimited;

    struct HeaderSize {
        std::size_t tensor;  // TensorProto payload without the content bytes
        std::size_t value;   // Checkpoint.Value payload
        std::size_t record;  // the whole record without the content bytes
    };
    static HeaderSize header_size(const RecordView& r, std::size_t content, bool scalar_dims) {
        const std::string_view type = r.is_string ? "str" : dtype_name(r.dtype);
        std::size_t dims = 0;
        if (scalar_dims) dims = io::varint_field_size(TensorProto::dims, 0);
        else
            for (auto d : r.shape) dims += io::varint_field_size(TensorProto::dims, d);
        const std::size_t tensor_payload = dims + io::length_delimited_size(TensorProto::tensor_type, type.size()) +
                                           io::length_delimited_size(TensorProto::tensor_content, content);
        const std::size_t value_payload = io::length_delimited_size(CheckpointValue::tag, r.name.size()) +
                                          io::length_delimited_size(CheckpointValue::tensor, tensor_payload);
        const std::size_t record = io::length_delimited_size(Checkpoint::value, value_payload);
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

    // Gathers the file as pieces for writev: headers (and contents under small_content bytes) are encoded
    // into a buffer, every other tensor's bytes go out straight from tensor memory, never copied.
    // Out is the AtomicFile, or the plaintext buffer of an encrypted save.
    template <class Out>
    struct Sink {
        static constexpr std::size_t small_content = 4096;  // cheaper to copy than to give an iovec of its own
        static constexpr std::size_t max_pieces = 64;       // per writev

        Sink(Out& f, bool crc_on, std::size_t capacity)
            : file(f), with_crc(crc_on), buffer(std::make_unique_for_overwrite<std::byte[]>(capacity)),
              size(capacity) {
            pieces.reserve(max_pieces + 1);
        }

        Out& file;
        bool with_crc;
        std::uint32_t crc = 0;
        std::unique_ptr<std::byte[]> buffer;  // not zero-filled: every byte is written before it is sent
        std::size_t size;
        std::size_t used = 0, mark = 0;  // buffer[mark, used) is not among the pieces yet
        std::vector<std::span<const std::byte>> pieces;

        std::byte* reserve(std::size_t n) {
            if (used + n > size) flush();
            if (n > size) {  // nothing points into the buffer after a flush
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
            if (bytes.size() <= small_content && used + bytes.size() <= size) {
                std::memcpy(buffer.get() + used, bytes.data(), bytes.size());
                used += bytes.size();
                return;
            }
            close_buffered();
            pieces.push_back(bytes);
            if (pieces.size() >= max_pieces) flush();
        }
        void flush() {
            close_buffered();
            if (!pieces.empty()) file.write(pieces);
            pieces.clear();
            used = mark = 0;
        }

    private:
        void close_buffered() {
            if (used > mark) pieces.emplace_back(buffer.get() + mark, used - mark);
            mark = used;
        }
    };

    template <class Out>
    static void write_record(Sink<Out>& sink, const RecordView& r, const WriteOptions& o) {
        for_each_piece(r, o, [&](std::span<const std::byte> piece, bool scalar_dims) {
            const auto size = header_size(r, piece.size(), scalar_dims);
            const std::string_view type = r.is_string ? "str" : dtype_name(r.dtype);
            std::byte* const start = sink.reserve(size.record);
            std::byte* p = start;
            p = io::put_varint(io::put_key(p, Checkpoint::value, ld), size.value);
            p = io::put_varint(io::put_key(p, CheckpointValue::tag, ld), r.name.size());
            p = std::copy_n(reinterpret_cast<const std::byte*>(r.name.data()), r.name.size(), p);
            p = io::put_varint(io::put_key(p, CheckpointValue::tensor, ld), size.tensor + piece.size());
            if (scalar_dims) {
                p = io::put_varint(io::put_key(p, TensorProto::dims, io::WireType::varint), 0);
            } else {
                for (auto d : r.shape) p = io::put_varint(io::put_key(p, TensorProto::dims, io::WireType::varint), d);
            }
            p = io::put_varint(io::put_key(p, TensorProto::tensor_type, ld), type.size());
            p = std::copy_n(reinterpret_cast<const std::byte*>(type.data()), type.size(), p);
            p = io::put_varint(io::put_key(p, TensorProto::tensor_content, ld), piece.size());
            sink.commit(static_cast<std::size_t>(p - start));
            sink.content(piece);
        });
    }
};

static_assert(CheckpointFormat<ckpt> && MappedFormat<ckpt> && StagedFormat<ckpt>);

}  // namespace mindsave::format
