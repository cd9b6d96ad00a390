// ZIP archives as torch.save writes them: a bounds-checked reader of stored (uncompressed) entries
// over bytes in memory, zip64 included, and a writer streaming 64-byte aligned entries to an AtomicFile.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mindsave/core/endian.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/io/file.hpp"

namespace mindsave::io {

struct ZipEntry {
    std::string name;
    std::span<const std::byte> data;  // the stored bytes, inside the archive
    std::uint32_t crc = 0;            // CRC-32 from the central directory
    std::uint64_t header_offset = 0;  // where its local header starts
};

namespace detail {
// Little-endian fields at a checked position of a span.
class ZipCursor {
public:
    ZipCursor(std::span<const std::byte> b, std::uint64_t at) : bytes_(b), at_(at) {}
    std::uint64_t get(int n) {
        const std::uint64_t v = load_le(bytes_.data() + at_, static_cast<std::size_t>(n));
        at_ += static_cast<std::uint64_t>(n);
        return v;
    }
    std::uint64_t at() const noexcept { return at_; }

private:
    std::span<const std::byte> bytes_;
    std::uint64_t at_;
};

inline void put_le(std::vector<std::byte>& out, std::uint64_t v, int n) { append_le(out, v, static_cast<std::size_t>(n)); }
}  // namespace detail

// The entries of a ZIP archive held in memory (e.g. a MappedFile). Only stored entries are accepted:
// torch.save never compresses, and views into the archive need the bytes as they are.
class ZipReader {
public:
    ZipReader(std::span<const std::byte> bytes, const std::filesystem::path& path) : bytes_(bytes), path_(path) {
        const std::uint64_t size = bytes.size();
        if (size < 22) fail("not a ZIP archive: " + std::to_string(size) + " bytes, too short for its end record");
        // The end record is the last 22 bytes plus a comment of up to 65535 bytes.
        std::uint64_t eocd = size;
        const std::uint64_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
        for (std::uint64_t p = size - 22;; --p) {
            if (signature(p) == 0x06054b50 && p + 22 + u16(p + 20) == size) {
                eocd = p;
                break;
            }
            if (p == lowest) break;
        }
        if (eocd == size) fail("not a ZIP archive, or a truncated one: no end-of-central-directory record");
        detail::ZipCursor e(bytes_, eocd + 4);
        const auto disk = e.get(2), cd_disk = e.get(2), disk_entries = e.get(2);
        std::uint64_t count = e.get(2), cd_size = e.get(4), cd_offset = e.get(4);
        std::uint64_t cd_limit = eocd;  // the central directory ends before this
        if (count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
            if (eocd < 20 || signature(eocd - 20) != 0x07064b50)
                fail("the end record defers to a zip64 record, but its locator is missing");
            detail::ZipCursor l(bytes_, eocd - 20 + 4);
            l.get(4);
            const auto z = l.get(8);
            if (z > eocd - 20 || eocd - 20 - z < 56 || signature(z) != 0x06064b50)
                fail("the zip64 end record's offset " + std::to_string(z) + " does not point at one");
            detail::ZipCursor r(bytes_, z + 4 + 8 + 2 + 2);
            if (r.get(4) != 0 || r.get(4) != 0) fail("multi-disk (split) archives are not supported");
            const auto entries_here = r.get(8);
            count = r.get(8);
            cd_size = r.get(8);
            cd_offset = r.get(8);
            if (entries_here != count) fail("multi-disk (split) archives are not supported");
            cd_limit = z;
        } else if (disk != 0 || cd_disk != 0 || disk_entries != count) {
            fail("multi-disk (split) archives are not supported");
        }
        if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset)
            fail("the central directory (offset " + std::to_string(cd_offset) + ", " + std::to_string(cd_size) +
                 " bytes) lies outside the archive (the file is truncated or damaged)");
        if (count > cd_size / 46)
            fail(std::to_string(count) + " entries cannot fit a " + std::to_string(cd_size) + "-byte central directory");
        entries_.reserve(static_cast<std::size_t>(count));  // no reallocation: index_ views the names
        std::uint64_t p = cd_offset;
        const std::uint64_t cd_end = cd_offset + cd_size;
        for (std::uint64_t i = 0; i < count; ++i) {
            entries_.push_back(read_entry(p, cd_end, cd_offset, i));
            if (!index_.emplace(entries_.back().name, entries_.size() - 1).second)
                fail("entry '" + entries_.back().name + "' appears twice");
        }
    }

    const std::vector<ZipEntry>& entries() const noexcept { return entries_; }
    const ZipEntry* find(std::string_view name) const {
        const auto it = index_.find(name);
        return it == index_.end() ? nullptr : &entries_[it->second];
    }
    // Throws a FormatError naming the entry when its bytes do not match its CRC-32.
    void check_crc(const ZipEntry& e) const {
        if (io::crc32(e.data) != e.crc)
            fail("entry '" + e.name + "': CRC-32 mismatch (the file is damaged or was changed after saving)");
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw FormatError(path_, what); }
    std::uint32_t signature(std::uint64_t at) const { return static_cast<std::uint32_t>(detail::ZipCursor(bytes_, at).get(4)); }
    std::uint64_t u16(std::uint64_t at) const { return detail::ZipCursor(bytes_, at).get(2); }

    ZipEntry read_entry(std::uint64_t& p, std::uint64_t cd_end, std::uint64_t data_limit, std::uint64_t index) {
        const std::string where = "central directory entry " + std::to_string(index);
        if (cd_end - p < 46 || signature(p) != 0x02014b50) fail(where + " is cut short or damaged");
        detail::ZipCursor c(bytes_, p + 8);
        const auto flags = c.get(2), method = c.get(2);
        c.get(4);  // DOS time and date
        const auto crc = c.get(4);
        std::uint64_t packed = c.get(4), size = c.get(4);
        const auto name_len = c.get(2), extra_len = c.get(2), comment_len = c.get(2);
        c.get(2 + 2 + 4);  // disk, internal and external attributes
        std::uint64_t offset = c.get(4);
        if (cd_end - p - 46 < name_len + extra_len + comment_len) fail(where + " runs past the central directory");
        ZipEntry e;
        e.name.assign(reinterpret_cast<const char*>(bytes_.data() + p + 46), static_cast<std::size_t>(name_len));
        const std::string what = "entry '" + e.name + "'";
        // zip64: each field saturated at 0xffffffff comes, in this order, from extra field 0x0001
        for (std::uint64_t x = p + 46 + name_len, end = x + extra_len; end - x >= 4;) {
            detail::ZipCursor f(bytes_, x);
            const auto id = f.get(2), len = f.get(2);
            if (end - x - 4 < len) fail(what + ": an extra field runs past its entry");
            if (id == 0x0001) {
                std::uint64_t left = len;
                for (std::uint64_t* field : {&size, &packed, &offset}) {
                    if (*field != 0xffffffff) continue;
                    if (left < 8) fail(what + ": its zip64 extra field is too short");
                    *field = f.get(8);
                    left -= 8;
                }
            }
            x += 4 + len;
        }
        p += 46 + name_len + extra_len + comment_len;
        if (flags & 0x41) fail(what + " is encrypted; torch.save never encrypts");
        if (method != 0)
            fail(what + " is compressed (method " + std::to_string(method) + (method == 8 ? ", deflate" : "") +
                 "); only stored entries are read, as torch.save writes them: re-save the file with torch.save");
        if (packed != size) fail(what + ": stored, yet its sizes differ (" + std::to_string(packed) + " and " +
                                 std::to_string(size) + ")");
        if (offset > data_limit || data_limit - offset < 30 || signature(offset) != 0x04034b50)
            fail(what + ": its local header offset " + std::to_string(offset) + " does not point at a local header");
        detail::ZipCursor l(bytes_, offset + 26);
        const auto local_name = l.get(2), local_extra = l.get(2);
        const std::uint64_t data = offset + 30 + local_name + local_extra;
        if (data > data_limit || data_limit - data < size)
            fail(what + ": its " + std::to_string(size) + " bytes at offset " + std::to_string(data) +
                 " run past the entries' area (the file is truncated or damaged)");
        if (local_name != name_len ||
            std::string_view(reinterpret_cast<const char*>(bytes_.data() + offset + 30), local_name) != e.name)
            fail(what + ": the local header names another entry");
        e.data = bytes_.subspan(static_cast<std::size_t>(data), static_cast<std::size_t>(size));
        e.crc = static_cast<std::uint32_t>(crc);
        e.header_offset = offset;
        return e;
    }

    std::span<const std::byte> bytes_;
    std::filesystem::path path_;
    std::vector<ZipEntry> entries_;
    std::unordered_map<std::string_view, std::size_t> index_;
};

// Writes stored entries to an AtomicFile as torch.save lays them out: each entry's data starts at a
// multiple of 64 (padding in an "FB" extra field), zip64 fields where a size or offset needs them.
class ZipWriter {
public:
    static constexpr std::uint64_t alignment = 64;

    // file null: nothing is written, only counted (bytes_written). zip64_at: sizes and offsets from this
    // value on use zip64 fields (lower it only to test them).
    explicit ZipWriter(AtomicFile* file, std::uint64_t zip64_at = 0xffffffff) : file_(file), zip64_at_(zip64_at) {}

    void add(std::string_view name, std::span<const std::byte> data) { add(name, data, file_ ? io::crc32(data) : 0); }
    // The same with data's CRC-32 already computed (crc32_ahead.hpp).
    void add(std::string_view name, std::span<const std::byte> data, std::uint32_t crc) {
        const std::uint64_t size = data.size();
        const bool big_size = size >= zip64_at_, big_offset = offset_ >= zip64_at_;
        std::vector<std::byte> h;
        h.reserve(30 + name.size() + 20 + 4 + alignment);
        detail::put_le(h, 0x04034b50, 4);
        detail::put_le(h, big_size || big_offset ? 45 : 20, 2);
        detail::put_le(h, 0x0800, 2);  // names are UTF-8
        detail::put_le(h, 0, 2);       // stored
        detail::put_le(h, 0, 2);       // 00:00
        detail::put_le(h, 0x21, 2);    // 1980-01-01
        detail::put_le(h, crc, 4);
        detail::put_le(h, big_size ? 0xffffffff : size, 4);
        detail::put_le(h, big_size ? 0xffffffff : size, 4);
        detail::put_le(h, name.size(), 2);
        const std::size_t extra_at = h.size();
        detail::put_le(h, 0, 2);  // extra length, set below
        for (const char c : name) h.push_back(static_cast<std::byte>(c));
        if (big_size) {
            detail::put_le(h, 0x0001, 2);
            detail::put_le(h, 16, 2);
            detail::put_le(h, size, 8);
            detail::put_le(h, size, 8);
        }
        const std::uint64_t start = offset_ + h.size() + 4;
        const std::uint64_t pad = (alignment - start % alignment) % alignment;
        detail::put_le(h, 0x4246, 2);  // "FB", torch's padding field
        detail::put_le(h, pad, 2);
        h.insert(h.end(), static_cast<std::size_t>(pad), std::byte{'Z'});
        const std::uint64_t extra = h.size() - 30 - name.size();
        h[extra_at] = static_cast<std::byte>(extra & 0xff);
        h[extra_at + 1] = static_cast<std::byte>(extra >> 8);
        const std::span<const std::byte> pieces[2] = {h, data};
        if (file_) file_->write(pieces);
        central_.push_back({std::string(name), crc, size, offset_});
        offset_ += h.size() + size;
    }

    // Writes the central directory and the end records; the caller commits the file.
    void finish() {
        std::vector<std::byte> cd;
        for (const auto& c : central_) {
            const bool big_size = c.size >= zip64_at_, big_offset = c.offset >= zip64_at_;
            detail::put_le(cd, 0x02014b50, 4);
            detail::put_le(cd, (3u << 8) | 45u, 2);  // made by: Unix, ZIP spec (APPNOTE) version 4.5
            detail::put_le(cd, big_size || big_offset ? 45 : 20, 2);
            detail::put_le(cd, 0x0800, 2);
            detail::put_le(cd, 0, 2);
            detail::put_le(cd, 0, 2);
            detail::put_le(cd, 0x21, 2);
            detail::put_le(cd, c.crc, 4);
            detail::put_le(cd, big_size ? 0xffffffff : c.size, 4);
            detail::put_le(cd, big_size ? 0xffffffff : c.size, 4);
            detail::put_le(cd, c.name.size(), 2);
            detail::put_le(cd, big_size || big_offset ? 4 + 8 * ((big_size ? 2 : 0) + (big_offset ? 1 : 0)) : 0, 2);
            detail::put_le(cd, 0, 2 + 2 + 2);  // comment length, disk, internal attributes
            detail::put_le(cd, 0644u << 16, 4);  // external attributes: -rw-r--r--
            detail::put_le(cd, big_offset ? 0xffffffff : c.offset, 4);
            for (const char ch : c.name) cd.push_back(static_cast<std::byte>(ch));
            if (big_size || big_offset) {
                detail::put_le(cd, 0x0001, 2);
                detail::put_le(cd, 8 * ((big_size ? 2 : 0) + (big_offset ? 1 : 0)), 2);
                if (big_size) detail::put_le(cd, c.size, 8), detail::put_le(cd, c.size, 8);
                if (big_offset) detail::put_le(cd, c.offset, 8);
            }
        }
        const std::uint64_t cd_offset = offset_, cd_size = cd.size(), count = central_.size();
        const bool zip64 = count >= 0xffff || cd_offset >= zip64_at_ || cd_size >= zip64_at_;
        if (zip64) {
            const std::uint64_t record = cd_offset + cd_size;
            detail::put_le(cd, 0x06064b50, 4);
            detail::put_le(cd, 44, 8);
            detail::put_le(cd, 45, 2);
            detail::put_le(cd, 45, 2);
            detail::put_le(cd, 0, 8);  // this disk, the central directory's disk
            detail::put_le(cd, count, 8);
            detail::put_le(cd, count, 8);
            detail::put_le(cd, cd_size, 8);
            detail::put_le(cd, cd_offset, 8);
            detail::put_le(cd, 0x07064b50, 4);
            detail::put_le(cd, 0, 4);
            detail::put_le(cd, record, 8);
            detail::put_le(cd, 1, 4);
        }
        detail::put_le(cd, 0x06054b50, 4);
        detail::put_le(cd, 0, 4);
        detail::put_le(cd, zip64 ? 0xffff : count, 2);
        detail::put_le(cd, zip64 ? 0xffff : count, 2);
        detail::put_le(cd, zip64 ? 0xffffffff : cd_size, 4);
        detail::put_le(cd, zip64 ? 0xffffffff : cd_offset, 4);
        detail::put_le(cd, 0, 2);
        if (file_) file_->write(std::span<const std::byte>(cd));
        offset_ += cd.size();
    }

    std::uint64_t bytes_written() const noexcept { return offset_; }

private:
    struct Central {
        std::string name;
        std::uint32_t crc;
        std::uint64_t size, offset;
    };
    AtomicFile* file_;
    std::uint64_t zip64_at_;
    std::uint64_t offset_ = 0;
    std::vector<Central> central_;
};

}  // namespace mindsave::io
