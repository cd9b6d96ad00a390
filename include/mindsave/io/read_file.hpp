// Reads a whole file into memory, inflating it on the way when it is gzip (.gz) data.
// Gzip goes through libprotobuf's GzipInputStream, so the library needs nothing beyond libprotobuf.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <google/protobuf/io/gzip_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include "mindsave/core/errors.hpp"
#include "mindsave/io/file.hpp"

namespace mindsave::io {

namespace detail {

// read_at (io/file.hpp) for byte buffers of std::uint8_t: the bytes read, fewer only at end of file.
inline std::size_t pread_full(int fd, std::uint8_t* out, std::size_t n, off_t offset,
                              const std::filesystem::path& path) {
    return read_at(fd, std::as_writable_bytes(std::span(out, n)), static_cast<std::size_t>(offset), path);
}

inline std::vector<std::uint8_t> read_plain(int fd, std::size_t size_hint, const std::filesystem::path& path) {
    std::vector<std::uint8_t> bytes(size_hint);
    std::size_t size = pread_full(fd, bytes.data(), bytes.size(), 0, path);
    bytes.resize(size);
    // The file may have grown since fstat: keep reading until end of file.
    std::uint8_t chunk[65536];
    for (;;) {
        const std::size_t got = pread_full(fd, chunk, sizeof chunk, static_cast<off_t>(size), path);
        if (got == 0) break;
        bytes.insert(bytes.end(), chunk, chunk + got);
        size += got;
    }
    return bytes;
}

inline std::vector<std::uint8_t> read_gzip(int fd, std::size_t file_size, const std::filesystem::path& path) {
    namespace pio = google::protobuf::io;
    std::vector<std::uint8_t> out;
    // The gzip trailer's ISIZE is a hint only: it comes from the file, so the reservation is capped
    // by a multiple of the compressed size rather than trusted.
    if (file_size >= 18) {
        std::uint8_t isize[4];
        if (pread_full(fd, isize, 4, static_cast<off_t>(file_size - 4), path) == 4) {
            const std::size_t hint = std::size_t{isize[0]} | std::size_t{isize[1]} << 8 |
                                     std::size_t{isize[2]} << 16 | std::size_t{isize[3]} << 24;
            out.reserve(std::min(hint, 16 * file_size + 65536));
        }
    }
    if (::lseek(fd, 0, SEEK_SET) < 0) throw FileError(path, "cannot seek: " + errno_message(errno));

    pio::FileInputStream file(fd, 1 << 16);
    pio::GzipInputStream gzip(&file, pio::GzipInputStream::GZIP);
    // GzipInputStream reports the end of its input the same way whether or not the stream was
    // complete, so completeness is tracked here: a member is complete once inflate returned
    // Z_STREAM_END, and any later progress (Z_OK) starts another member that must complete too.
    bool complete = false;
    const void* data = nullptr;
    int size = 0;
    while (gzip.Next(&data, &size)) {
        const auto* p = static_cast<const std::uint8_t*>(data);
        out.insert(out.end(), p, p + size);
        const int code = gzip.ZlibErrorCode();
        if (code == Z_STREAM_END) complete = true;
        else if (code == Z_OK) complete = false;
    }
    if (file.GetErrno() != 0) throw FileError(path, "cannot read: " + errno_message(file.GetErrno()));
    const int code = gzip.ZlibErrorCode();
    if (code != Z_OK && code != Z_STREAM_END && code != Z_BUF_ERROR) {
        const char* msg = gzip.ZlibErrorMessage();
        const std::string zlib = std::string("zlib error ") + std::to_string(code) + (msg ? std::string(": ") + msg : "");
        if (complete)
            throw FormatError(path, "unexpected bytes after the end of the gzip stream (" + zlib + ")");
        throw FormatError(path, "corrupt gzip stream after " + std::to_string(out.size()) +
                                    " decompressed bytes (" + zlib + ")");
    }
    if (!complete)
        throw FormatError(path, "truncated gzip stream: the file (" + std::to_string(file_size) +
                                    " bytes) ends before the gzip trailer, after " +
                                    std::to_string(out.size()) + " decompressed bytes");
    return out;
}

}  // namespace detail

// The whole content of path; gzip data (magic 1f 8b) is returned decompressed.
// Throws FileError when the file cannot be opened or read, FormatError for corrupt or truncated gzip.
inline std::vector<std::uint8_t> read_file_maybe_gzip(const std::filesystem::path& path) {
    detail::Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) throw FileError(path, "cannot open for reading: " + detail::errno_message(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw FileError(path, "cannot stat: " + detail::errno_message(errno));
    if (S_ISDIR(st.st_mode)) throw FileError(path, "cannot read: " + detail::errno_message(EISDIR));
    const auto file_size = static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 0);

    std::uint8_t magic[2] = {0, 0};
    const std::size_t got = detail::pread_full(fd.get(), magic, 2, 0, path);
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) return detail::read_gzip(fd.get(), file_size, path);
    return detail::read_plain(fd.get(), file_size, path);
}

}  // namespace mindsave::io
