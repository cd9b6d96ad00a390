// format::ckpt's copying read without a memory map, for small files: record headers pass through a
// small window and each tensor's bytes go from the file into its record by preadv, one copy, as a
// plain read() makes. (Mapping a small file, faulting it in and unmapping it costs more than reading
// it.) Also the record rules every ckpt reader applies.
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
#include "mindsave/formats/ckpt_crc_footer.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/protobuf_wire.hpp"

namespace mindsave::format::detail {

// dims [0] is the <= 2.2 spelling of a scalar (and of a str record).
inline void ckpt_finish(RecordView& r) {
    if (r.is_string) {
        r.shape.clear();
        return;
    }
    if (r.shape.size() == 1 && r.shape[0] == 0 && r.data.size() == dtype_size(r.dtype)) r.shape.clear();
}

inline void ckpt_check_size(const RecordView& r, std::size_t index, const std::filesystem::path& path) {
    if (r.is_string) {
        if (r.data.size() % 4 != 0)
            throw FormatError(path, "record " + std::to_string(index) + " ('" + std::string(r.name) +
                                        "'): a str value of " + std::to_string(r.data.size()) +
                                        " bytes, not whole UTF-32 characters");
        return;
    }
    const auto need = checked_byte_count(r.shape, dtype_size(r.dtype));
    if (!need || *need != r.data.size())
        throw FormatError(path, "record " + std::to_string(index) + " ('" + std::string(r.name) + "'): shape " +
                                    shape_string(r.shape) + " of " + std::string(dtype_name(r.dtype)) +
                                    (!need ? " overflows" : " needs " + std::to_string(*need) + " bytes") +
                                    ", but the record holds " + std::to_string(r.data.size()) + " bytes");
}

// What stream_ckpt reads from: read(parts, offset) fills the parts in order from offset and returns
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

inline constexpr std::size_t ckpt_stream_window = std::size_t{64} << 10;

// Reads a size-byte .ckpt from a Source. Accepts only the layout MindSpore writes (each record: tag,
// then a tensor of dims, tensor_type, tensor_content, in that order) and returns what ckpt::parse and
// copy_records would give; on anything else (another field order, packed dims, unknown fields, split
// tensors, a CRC footer that does not match, damage, a file that changes size) it returns nullopt and
// the caller parses the whole file instead, for the reference result or the reference error.
template <class Source>
class CkptStream {
public:
    CkptStream(const Source& source, std::size_t size, bool crc_check, std::size_t window)
        : source_(source), size_(size), crc_check_(crc_check), cap_(std::min(window, size)),
          buf_(std::make_unique_for_overwrite<std::byte[]>(cap_)) {}

    // The file's first bytes, read into the window where run() starts (format::any detects the
    // format from them, so a small .ckpt costs one read less); empty if the read fails.
    std::span<const std::byte> head() {
        if (!(off_ == 0 && len_ == cap_) && !fill(0)) return {};
        return {buf_.get(), len_};
    }

    std::optional<std::vector<TensorRecord>> run() {
        std::vector<TensorRecord> out;
        std::size_t pos = 0;
        bool footer = false;
        while (pos < size_) {
            if (size_ - pos == crc_footer_bytes) {  // parse's footer test, made where the records end
                if (!holds(pos, crc_footer_bytes) && (!fill(pos) || !holds(pos, crc_footer_bytes))) return std::nullopt;
                if (crc_footer({at(pos), crc_footer_bytes})) {
                    footer = true;
                    break;
                }
            }
            auto h = header(pos);
            if (!h) return std::nullopt;
            if (!out.empty() && out.back().name == h->name) return std::nullopt;  // a split tensor's piece
            if (crc_check_) crc_ = io::crc32({at(pos), h->content - pos}, crc_);
            TensorRecord r;
            r.name.assign(h->name);  // before the window moves on
            std::vector<std::byte> text;
            auto& dest = h->is_string ? text : r.data;
            if (!content(h->content, h->length, dest)) return std::nullopt;
            if (crc_check_) crc_ = io::crc32(dest, crc_);
            RecordView v{r.name, h->dtype, std::move(h->shape), dest, h->is_string};
            ckpt_finish(v);
            try {
                ckpt_check_size(v, out.size(), {});
            } catch (const FormatError&) {
                return std::nullopt;
            }
            if (v.is_string) {
                r.text = TensorRecord::from_view(v).text;
            } else {
                r.dtype = v.dtype;
                r.shape = std::move(v.shape);
            }
            out.push_back(std::move(r));
            pos = h->content + h->length;
        }
        if (footer) {
            if (crc_check_) {
                const auto stored = crc_footer({at(pos), crc_footer_bytes});
                if (!stored->well_formed || stored->crc != crc_) return std::nullopt;
            }
        } else if (size_ >= crc_footer_bytes && crc_footer({tail_, crc_footer_bytes})) {
            return std::nullopt;  // parse takes the last 17 bytes as a footer the records run into
        }
        return out;
    }

private:
    struct Header {
        std::string_view name;  // in the window
        DType dtype = DType::Float32;
        bool is_string = false;
        Shape shape;
        std::size_t content = 0, length = 0;  // tensor_content's offset in the file and size
    };

    std::size_t end() const noexcept { return off_ + len_; }
    bool holds(std::size_t pos, std::size_t n) const noexcept { return pos >= off_ && n <= len_ && pos - off_ <= len_ - n; }
    const std::byte* at(std::size_t pos) const noexcept { return buf_.get() + (pos - off_); }

    // The window becomes the file's bytes from off on, as many as fit.
    bool fill(std::size_t off) {
        const std::size_t n = std::min(cap_, size_ - off);
        const std::span<std::byte> parts[1] = {{buf_.get(), n}};
        if (source_.read(parts, off) != n) return false;
        off_ = off, len_ = n;
        note({buf_.get(), n}, off);
        return true;
    }

    // Keeps the file's last 17 bytes as they pass: whether parse would see a footer there.
    void note(std::span<const std::byte> bytes, std::size_t off) noexcept {
        if (size_ < 17) return;
        const std::size_t from = std::max(off, size_ - 17), to = off + bytes.size();
        if (from < to) std::memcpy(tail_ + (from - (size_ - 17)), bytes.data() + (from - off), to - from);
    }

    // The record header at pos, read in the window; a header the window cuts is read again from pos.
    std::optional<Header> header(std::size_t pos) {
        if (!holds(pos, 1) && !fill(pos)) return std::nullopt;
        for (;;) {
            try {
                return decode(pos);
            } catch (const io::WireError&) {
                if (off_ == pos || end() == size_ || !fill(pos)) return std::nullopt;  // damaged, or too long
            }
        }
    }

    // The layout MindSpore writes; nullopt for any other. Lengths are checked against the file size.
    std::optional<Header> decode(std::size_t pos) const {
        io::WireReader h({at(pos), end() - pos}, pos);
        io::WireType type;
        const auto field = [&](std::uint32_t number, io::WireType want) { return h.key(type) == number && type == want; };
        const auto within = [&](std::uint64_t n) { return n <= size_ - h.offset(); };
        constexpr auto ld = io::WireType::length_delimited;
        Header out;
        if (!field(1, ld)) return std::nullopt;
        const std::uint64_t value = h.varint();
        if (!within(value)) return std::nullopt;
        const std::size_t value_end = h.offset() + static_cast<std::size_t>(value);
        if (!field(1, ld)) return std::nullopt;
        out.name = h.string();
        if (!field(2, ld)) return std::nullopt;
        const std::uint64_t tensor = h.varint();
        if (!within(tensor) || h.offset() + tensor != value_end) return std::nullopt;
        std::size_t dims[max_tensor_rank], rank = 0;  // one allocation for the shape, not one per growth
        std::uint32_t number = h.key(type);
        for (; number == 1 && type == io::WireType::varint; number = h.key(type)) {
            if (rank == max_tensor_rank) return std::nullopt;
            dims[rank++] = static_cast<std::size_t>(h.varint());
        }
        out.shape.assign(dims, dims + rank);
        if (number != 2 || type != ld) return std::nullopt;
        if (const auto name = h.string(); name == "str") out.is_string = true;
        else if (const auto dtype = parse_dtype(name)) out.dtype = *dtype;
        else return std::nullopt;
        if (!field(3, ld)) return std::nullopt;
        const std::uint64_t length = h.varint();
        if (!within(length) || h.offset() + length != value_end) return std::nullopt;
        out.content = h.offset();
        out.length = static_cast<std::size_t>(length);
        return out;
    }

    // dest becomes the n bytes at off: copied from the window, or read into dest together with the
    // next window (one preadv) when they run past it.
    bool content(std::size_t off, std::size_t n, std::vector<std::byte>& dest) {
        const std::size_t here = std::min(n, end() - off);
        if (here == n) {
            dest.assign(at(off), at(off) + n);
            return true;
        }
        dest.reserve(n);
        dest.assign(at(off), at(off) + here);
        dest.resize(n);  // zero-fills only what the read below overwrites: std::vector allows no less
        const std::size_t next = off + n, ahead = std::min(cap_, size_ - next);
        const std::span<std::byte> parts[2] = {std::span(dest).subspan(here), {buf_.get(), ahead}};
        if (source_.read(parts, off + here) != n - here + ahead) return false;
        note(parts[0], off + here);
        off_ = next, len_ = ahead;
        note({buf_.get(), ahead}, next);
        return true;
    }

    const Source& source_;
    std::size_t size_;
    bool crc_check_;
    std::size_t cap_;
    std::unique_ptr<std::byte[]> buf_;
    std::size_t off_ = 0, len_ = 0;  // the window holds the file's bytes [off_, off_ + len_)
    std::uint32_t crc_ = 0;
    std::byte tail_[17] = {};
};

// The records keep(name) accepts, in their order.
template <class Keep>
std::vector<TensorRecord> keep_only(std::vector<TensorRecord> records, Keep&& keep) {
    std::erase_if(records, [&](const TensorRecord& r) { return !keep(std::string_view(r.name)); });
    return records;
}

template <class Source>
std::optional<std::vector<TensorRecord>> stream_ckpt(const Source& source, std::size_t size, bool crc_check,
                                                     std::size_t window = ckpt_stream_window) {
    return CkptStream<Source>(source, size, crc_check, window).run();
}

}  // namespace mindsave::format::detail
