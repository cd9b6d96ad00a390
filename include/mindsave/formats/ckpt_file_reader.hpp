// format::ckpt's reads from a file without a memory map: records' headers decoded (ckpt_records.hpp) in a
// window that moves through the file, and tensor bytes read by preadv straight into their destinations.
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

#include "mindsave/core/errors.hpp"
#include "mindsave/core/huge_pages.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/core/record_plan.hpp"
#include "mindsave/formats/ckpt_crc_footer.hpp"
#include "mindsave/formats/ckpt_records.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/io/file.hpp"

namespace mindsave::format::detail {

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
        std::vector<RecordBytes> text;  // str records' UTF-32 bytes, decoded at the end
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
    void content(const CkptRecordHeader& h, RecordBytes& dest) {
        const std::size_t from = dest.size();
        if (h.length == 0) return;
        const auto here = at(h.content).first(std::min(h.length, off_ + len_ - h.content));
        if (here.size() == h.length) {
            dest.insert(dest.end(), here.begin(), here.end());
            return;
        }
        dest.reserve(from + h.length);
        if (from == 0) mindsave::detail::advise_huge_pages(dest.data(), h.length);  // before anything touches it
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
