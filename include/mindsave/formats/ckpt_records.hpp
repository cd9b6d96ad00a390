// The one reader of .ckpt records (docs/formats.md section 1): a record's header decoded to where its tensor
// bytes lie, over the whole file in memory (ckpt::parse, views) or a window moving through a file (the copying
// read: each tensor's bytes go by preadv straight into its record). Also the rules every read applies.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/byte_count.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/core/record_plan.hpp"
#include "mindsave/formats/ckpt_crc_footer.hpp"
#include "mindsave/formats/ckpt_fields.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/protobuf_wire.hpp"

namespace mindsave::format::detail {

// One record as its header places it in the file.
struct CkptRecordHeader {
    std::string_view name;  // in the bytes decoded
    DType dtype = DType::Float32;
    bool is_string = false;
    Shape shape;
    std::size_t content = 0, length = 0;  // tensor_content: file offset and size
    std::size_t end = 0;                  // the file offset after the record
};

// The offset where a length-delimited payload at r ends, checked against its message's end.
inline std::size_t ckpt_payload_end(io::WireReader& r, std::size_t limit) {
    const std::uint64_t n = r.varint();
    if (r.offset() > limit || n > limit - r.offset())
        r.fail("length " + std::to_string(n) + " runs past the end (" +
               std::to_string(limit > r.offset() ? limit - r.offset() : 0) + " bytes left)");
    return r.offset() + static_cast<std::size_t>(n);
}

// A field read from r must end inside its message.
inline void ckpt_within(const io::WireReader& r, std::size_t limit) {
    if (r.offset() > limit) r.fail("a field runs past the end of its message");
}

// Decodes the TensorProto ending at tensor_end into h. Returns false when tensor_content is the last field
// of the record and its bytes lie beyond r (a window over a file): the header is complete all the same.
inline bool ckpt_decode_tensor(io::WireReader& r, std::size_t tensor_end, std::size_t record_end, CkptRecordHeader& h) {
    using proto::ckpt::TensorProto;
    constexpr auto ld = io::WireType::length_delimited;
    bool has_type = false, has_content = false;
    while (r.offset() < tensor_end) {
        const auto key = r.key();
        if (key.is(TensorProto::dims) && (key.type == io::WireType::varint || key.type == ld)) {
            if (h.shape.capacity() == 0) h.shape.reserve(8);  // one allocation for a usual rank, not one per growth
            io::read_dims(r, key.type, h.shape);  // packed dims are tolerated
        } else if (key.is(TensorProto::tensor_type, ld)) {
            const auto name = r.string();
            if (name == "str") {
                h.is_string = true;
            } else if (const auto dtype = parse_dtype(name)) {
                h.dtype = *dtype;
            } else {
                r.fail("unknown tensor_type '" + std::string(name.substr(0, 64)) +
                       "' (MindSpore's loader rejects it too; known: Bool, Int8..Int64, UInt8..UInt64, "
                       "Float16/32/64, BFloat16, str)");
            }
            has_type = true;
        } else if (key.is(TensorProto::tensor_content, ld)) {
            const auto end = ckpt_payload_end(r, tensor_end);
            h.content = r.offset();
            h.length = end - h.content;
            has_content = true;
            if (r.remaining() < h.length) {
                if (end != record_end) r.fail("tensor_content runs past the bytes at hand");  // the caller widens them
                if (!has_type) r.fail("a TensorProto without its required tensor_type or tensor_content");
                return false;
            }
            r.skip_bytes(h.length);
        } else {
            r.skip(key.type);
        }
        ckpt_within(r, tensor_end);
    }
    if (!has_type || !has_content) r.fail("a TensorProto without its required tensor_type or tensor_content");
    return true;
}

// Decodes the record at r into h. r's bytes may stop before the record ends (a window over a file) as long as
// they hold every field but the last tensor_content's bytes; when they do not, this throws like damage would,
// and the caller tries again with more bytes. records_end is where the records end (the CRC footer's start).
inline void ckpt_decode_record(io::WireReader& r, std::size_t records_end, CkptRecordHeader& h) {
    using namespace proto::ckpt;
    constexpr auto ld = io::WireType::length_delimited;
    if (!r.key().is(Checkpoint::value, ld)) r.fail("expected Checkpoint.value (field 1)");
    h.end = ckpt_payload_end(r, records_end);
    bool has_tag = false, has_tensor = false;
    while (r.offset() < h.end) {
        const auto key = r.key();
        if (key.is(CheckpointValue::tag, ld)) {
            h.name = r.string();
            has_tag = true;
        } else if (key.is(CheckpointValue::tensor, ld)) {
            const auto tensor_end = ckpt_payload_end(r, h.end);
            has_tensor = true;
            if (!ckpt_decode_tensor(r, tensor_end, h.end, h)) {
                if (!has_tag) r.fail("a Checkpoint.Value without its required tag or tensor");
                return;
            }
        } else if (key.is(CheckpointValue::maptensor, ld)) {
            r.fail("map-parameter records (MapTensorProto, embedding caches) are not supported");
        } else {
            r.skip(key.type);
        }
        ckpt_within(r, h.end);
    }
    if (!has_tag || !has_tensor) r.fail("a Checkpoint.Value without its required tag or tensor");
}

// dims [0] is the <= 2.2 spelling of a scalar (and of a str record).
inline void ckpt_finish(CkptRecordHeader& h) {
    if (h.is_string) h.shape.clear();
    else if (h.shape.size() == 1 && h.shape[0] == 0 && h.length == dtype_size(h.dtype)) h.shape.clear();
}

// A record's bytes must be what its shape and dtype need (a str record: whole UTF-32 characters).
inline void ckpt_check_size(std::string_view name, bool is_string, DType dtype, const Shape& shape, std::size_t bytes,
                            std::size_t index, const std::filesystem::path& path) {
    if (is_string) {
        if (bytes % 4 != 0)
            throw FormatError(path, "record " + std::to_string(index) + " ('" + std::string(name) + "'): a str value of " +
                                        std::to_string(bytes) + " bytes, not whole UTF-32 characters");
        return;
    }
    const auto need = checked_byte_count(shape, dtype_size(dtype));
    if (!need || *need != bytes)
        throw FormatError(path, "record " + std::to_string(index) + " ('" + std::string(name) + "'): shape " +
                                    shape_string(shape) + " of " + std::string(dtype_name(dtype)) +
                                    (!need ? " overflows" : " needs " + std::to_string(*need) + " bytes") +
                                    ", but the record holds " + std::to_string(bytes) + " bytes");
}
inline void ckpt_check_size(const RecordView& r, std::size_t index, const std::filesystem::path& path) {
    ckpt_check_size(r.name, r.is_string, r.dtype, r.shape, r.data.size(), index, path);
}

// Whether h continues the record before it, named prev_name (MindSpore splits a large tensor into records
// of one name); their types must agree.
inline bool ckpt_continues(std::string_view prev_name, bool prev_is_string, DType prev_dtype, const CkptRecordHeader& h,
                           const std::filesystem::path& path) {
    if (prev_name != h.name) return false;
    if (prev_is_string != h.is_string || (!h.is_string && prev_dtype != h.dtype))
        throw FormatError(path, "pieces of tensor '" + std::string(h.name) + "' disagree on type");
    return true;
}

inline FormatError ckpt_crc_error(const std::filesystem::path& path) {
    return FormatError(path, "CRC-32 check failed: the stored checksum does not match the records "
                             "(the file is damaged or was changed after saving)");
}

// The tag of a record whose length runs past the end (a cut file), if its start is intact: for messages.
inline std::string_view ckpt_peek_tag(io::WireReader r) noexcept {
    try {
        if (!r.key().is(proto::ckpt::Checkpoint::value, io::WireType::length_delimited)) return {};
        r.varint();  // the record's (too long) length
        if (r.key().is(proto::ckpt::CheckpointValue::tag, io::WireType::length_delimited)) return r.string();
    } catch (const io::WireError&) {
    }
    return {};
}

inline FormatError ckpt_record_error(const std::filesystem::path& path, std::size_t index, std::string_view name,
                                     const io::WireError& e) {
    return FormatError(path, "not a valid MindSpore checkpoint: record " + std::to_string(index) +
                                 (name.empty() ? "" : " ('" + std::string(name) + "')") + ": " + e.what + " at byte " +
                                 std::to_string(e.offset) + " (the file is truncated or corrupt)");
}

// Decodes the record at pos from window.at(pos) (the bytes from pos that are at hand); when they stop too
// soon, window.widen(pos) brings more, and once it cannot, the error is the file's.
template <class Window>
CkptRecordHeader ckpt_next_record(Window& window, std::size_t pos, std::size_t records_end, std::size_t index,
                                  const std::filesystem::path& path) {
    for (;;) {
        const auto bytes = window.at(pos);
        io::WireReader r(bytes, pos);
        CkptRecordHeader h;
        try {
            ckpt_decode_record(r, records_end, h);
            ckpt_finish(h);
            return h;
        } catch (const io::WireError& e) {
            if (window.widen(pos)) continue;
            throw ckpt_record_error(path, index, h.name.empty() ? ckpt_peek_tag(io::WireReader(bytes, pos)) : h.name, e);
        }
    }
}

// The whole file in memory: every byte is at hand.
struct CkptMemoryWindow {
    std::span<const std::byte> records;  // the file without its CRC footer
    std::span<const std::byte> at(std::size_t pos) const noexcept { return records.subspan(pos); }
    static bool widen(std::size_t) noexcept { return false; }
};

// What CkptFileReader reads from: read(parts, offset) fills the parts in order from offset and returns
// the bytes read, fewer only where the input ends.
struct FileSource {
    int fd;
    const std::filesystem::path& path;
    std::size_t read(std::span<const std::span<std::byte>> parts, std::size_t offset) const {
        return io::detail::read_at(fd, parts, offset, path);
    }
};
struct MemorySource {  // the same over bytes in memory: for tests and the fuzz harness
    std::span<const std::byte> bytes;
    std::size_t read(std::span<const std::span<std::byte>> parts, std::size_t offset) const {
        std::size_t done = 0;
        for (const auto part : parts) {
            const std::size_t n = offset < bytes.size() ? std::min(part.size(), bytes.size() - offset) : 0;
            if (n) std::memcpy(part.data(), bytes.data() + offset, n);
            offset += n;
            done += n;
            if (n < part.size()) break;
        }
        return done;
    }
};

inline constexpr std::size_t ckpt_read_window = std::size_t{64} << 10;

// Where each record's bytes are in a .ckpt: record i's pieces are extents[first_extent[i] .. first_extent[i + 1]).
struct CkptLayout {
    struct Extent {
        std::size_t offset, length;
    };
    std::vector<RecordHeader> headers;
    std::vector<Extent> extents;
    std::vector<std::size_t> first_extent;
};

// The copying read of a .ckpt without a memory map (mapping a small file, faulting it in and unmapping it
// costs more than reading it): headers pass through a window, each tensor's bytes go from the file into its
// record, one copy, as a plain read() makes. Same records and same errors as ckpt::parse.
template <class Source>
class CkptFileReader {
public:
    CkptFileReader(const Source& source, std::size_t size, const std::filesystem::path& path,
                   std::size_t window = ckpt_read_window)
        : source_(source), size_(size), path_(path), cap_(std::max<std::size_t>(1, std::min(window, size))),
          buf_(std::make_unique_for_overwrite<std::byte[]>(cap_)), records_end_(size) {}

    // The file's first bytes (format::any detects the format from them; read() starts from them).
    std::span<const std::byte> head() {
        if (!(off_ == 0 && len_ == std::min(cap_, size_))) fill(0);
        return {buf_.get(), len_};
    }

    // The window becomes head, the file's first bytes read by the caller (as many as fit).
    void prime(std::span<const std::byte> head) noexcept {
        const std::size_t n = std::min({head.size(), cap_, size_});
        std::memcpy(buf_.get(), head.data(), n);
        off_ = 0, len_ = n;
    }

    // Every record, in file order, split tensors joined.
    std::vector<TensorRecord> read(bool crc_check) {
        const auto footer = read_footer();
        records_end_ = footer ? size_ - crc_footer_bytes : size_;
        crc_check = crc_check && footer.has_value();
        std::vector<TensorRecord> out;
        std::vector<std::vector<std::byte>> text;  // str records' UTF-32 bytes, decoded at the end
        std::uint32_t crc = 0;
        std::size_t pos = 0, index = 0;
        try {
            while (pos < records_end_) {
                auto h = ckpt_next_record(*this, pos, records_end_, index++, path_);
                if (out.empty() || !ckpt_continues(out.back().name, out.back().text.has_value(), out.back().dtype, h, path_)) {
                    out.emplace_back();
                    out.back().name.assign(h.name);  // before the window moves on
                    out.back().dtype = h.dtype;
                    if (h.is_string) out.back().text.emplace(), text.emplace_back();
                }
                auto& record = out.back();
                record.shape = std::move(h.shape);
                auto& dest = record.text ? text.back() : record.data;
                const std::size_t from = dest.size();
                if (crc_check) crc = io::crc32(at(pos).first(h.content - pos), crc);
                content(h, dest);
                if (crc_check) {
                    crc = io::crc32(std::span(dest).subspan(from), crc);
                    if (const auto after = h.content + h.length; after < h.end) crc = io::crc32(at(after).first(h.end - after), crc);
                }
                pos = h.end;
            }
            for (std::size_t i = 0, t = 0; i < out.size(); ++i) {
                const auto& r = out[i];
                ckpt_check_size(r.name, r.text.has_value(), r.dtype, r.shape, r.text ? text[t++].size() : r.data.size(), i, path_);
            }
        } catch (const FormatError&) {
            // parse tests the CRC before the records: the same file gives the same error
            if (crc_check && !crc_matches(*footer)) throw ckpt_crc_error(path_);
            throw;
        }
        if (crc_check && (!footer->well_formed || crc != footer->crc)) throw ckpt_crc_error(path_);
        for (std::size_t i = 0, t = 0; i < out.size(); ++i)
            if (out[i].text) out[i].text = mindsave::detail::utf32le_to_utf8(text[t++]);
        return out;
    }

    // Every record's header (split tensors joined) and where its bytes lie, none of them read: what a load
    // into a network plans from. The window hops from header to header; with crc_check the whole file is
    // checked first. Same errors as read().
    CkptLayout layout(bool crc_check) {
        const auto footer = read_footer();
        records_end_ = footer ? size_ - crc_footer_bytes : size_;
        if (crc_check && footer && !crc_matches(*footer)) throw ckpt_crc_error(path_);
        CkptLayout out;
        for (std::size_t pos = 0, index = 0; pos < records_end_;) {
            auto h = ckpt_next_record(*this, pos, records_end_, index++, path_);
            pos = h.end;
            auto& headers = out.headers;
            if (headers.empty() || !ckpt_continues(headers.back().name, headers.back().is_string, headers.back().dtype, h, path_)) {
                headers.push_back({std::string(h.name), h.dtype, {}, h.is_string, 0});
                out.first_extent.push_back(out.extents.size());
            }
            headers.back().shape = std::move(h.shape);
            headers.back().bytes += h.length;
            out.extents.push_back({h.content, h.length});
        }
        out.first_extent.push_back(out.extents.size());
        for (std::size_t i = 0; i < out.headers.size(); ++i) {
            const auto& r = out.headers[i];
            ckpt_check_size(r.name, r.is_string, r.dtype, r.shape, r.bytes, i, path_);
        }
        return out;
    }

    // The bytes at hand from pos, up to where the records end (the window is filled from pos if pos is outside it).
    std::span<const std::byte> at(std::size_t pos) {
        if (pos < off_ || pos >= off_ + len_) fill(pos);
        return {buf_.get() + (pos - off_), std::min(off_ + len_, records_end_) - pos};
    }
    // More bytes from pos: the window moves to start at pos, or doubles; false once it holds every record byte.
    bool widen(std::size_t pos) {
        if (off_ <= pos && off_ + len_ >= records_end_) return false;
        if (off_ == pos) {
            cap_ = std::min(records_end_ - pos, cap_ * 2);
            buf_ = std::make_unique_for_overwrite<std::byte[]>(cap_);
        }
        fill(pos);
        return true;
    }

private:
    // The window becomes the file's bytes from off on, as many as fit before records_end_.
    void fill(std::size_t off) {
        const std::size_t n = std::min(cap_, size_ - off);
        const std::span<std::byte> parts[1] = {{buf_.get(), n}};
        if (source_.read(parts, off) != n) throw changed();
        off_ = off, len_ = n;
    }

    std::optional<CrcFooter> read_footer() {
        records_end_ = size_;
        if (size_ < crc_footer_bytes) return std::nullopt;
        std::byte tail[crc_footer_bytes];
        const auto last = size_ - crc_footer_bytes;
        if (off_ <= last && off_ + len_ == size_) {
            std::memcpy(tail, buf_.get() + (last - off_), crc_footer_bytes);
        } else {
            const std::span<std::byte> parts[1] = {tail};
            if (source_.read(parts, last) != crc_footer_bytes) throw changed();
        }
        return crc_footer(tail);
    }

    // Whether the records' bytes match the footer's CRC (read again: the error path only).
    bool crc_matches(const CrcFooter& footer) {
        const std::size_t chunk = std::min<std::size_t>(records_end_, std::size_t{1} << 20);
        const auto buf = std::make_unique_for_overwrite<std::byte[]>(std::max<std::size_t>(chunk, 1));
        std::uint32_t crc = 0;
        for (std::size_t pos = 0; pos < records_end_; pos += chunk) {
            const std::span<std::byte> part{buf.get(), std::min(chunk, records_end_ - pos)};
            const std::span<std::byte> parts[1] = {part};
            if (source_.read(parts, pos) != part.size()) throw changed();
            crc = io::crc32(part, crc);
        }
        return footer.well_formed && crc == footer.crc;
    }

    // h's tensor bytes appended to dest: copied from the window, or read into dest together with the
    // window that follows the record (one preadv) when they run past it.
    void content(const CkptRecordHeader& h, std::vector<std::byte>& dest) {
        const std::size_t from = dest.size();
        if (h.length == 0) return;
        const auto here = at(h.content).first(std::min(h.length, off_ + len_ - h.content));
        if (here.size() == h.length) {
            dest.insert(dest.end(), here.begin(), here.end());
            return;
        }
        dest.reserve(from + h.length);
        dest.insert(dest.end(), here.begin(), here.end());
        dest.resize(from + h.length);  // zero-fills only what the read below overwrites: std::vector allows no less
        const std::size_t next = h.end, ahead = std::min(cap_, records_end_ - next);  // h.end ends the content here
        const std::span<std::byte> parts[2] = {std::span(dest).subspan(from + here.size()), {buf_.get(), ahead}};
        if (source_.read(parts, h.content + here.size()) != h.length - here.size() + ahead) throw changed();
        off_ = next, len_ = ahead;
    }

    FormatError changed() const {
        return FormatError(path_, "the file changed size while it was read (another process is writing it?)");
    }

    const Source& source_;
    std::size_t size_;
    const std::filesystem::path& path_;
    std::size_t cap_;
    std::unique_ptr<std::byte[]> buf_;
    std::size_t off_ = 0, len_ = 0;  // the window holds the file's bytes [off_, off_ + len_)
    std::size_t records_end_;  // where the records end: the CRC footer's start, or the file's end
};

// Every record of a size-byte .ckpt read from source, split tensors joined: ckpt::parse's records, copied.
template <class Source>
std::vector<TensorRecord> read_ckpt(const Source& source, std::size_t size, const std::filesystem::path& path,
                                    bool crc_check, std::size_t window = ckpt_read_window) {
    return CkptFileReader<Source>(source, size, path, window).read(crc_check);
}

}  // namespace mindsave::format::detail
