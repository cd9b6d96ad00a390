// Files as mindsave uses them: a read-only memory map, a whole-file read, and an atomic writer
// (temp file, fsync, rename, fsync of the directory) so a crash never leaves a torn final file.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "mindsave/core/errors.hpp"

namespace mindsave::io {

namespace detail {

inline std::string errno_message(int err) {
    std::string msg = std::generic_category().message(err);
    if (err == ENOSPC) msg += " (the disk is full: free space or write elsewhere)";
    if (err == EDQUOT) msg += " (the disk quota is exceeded)";
    if (err == EFBIG) msg += " (the file size limit is reached)";
    if (err == EACCES || err == EPERM) msg += " (check the permissions of the file and its folder)";
    return msg;
}

class Descriptor {
public:
    Descriptor() = default;
    explicit Descriptor(int fd) noexcept : fd_(fd) {}
    Descriptor(Descriptor&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Descriptor& operator=(Descriptor&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~Descriptor() { reset(); }
    int get() const noexcept { return fd_; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

inline Descriptor open_for_reading(const std::filesystem::path& path, struct stat& st) {
    Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        const int err = errno;
        throw FileError(path, err == ENOENT ? "does not exist: check the file name"
                                            : "cannot open for reading: " + errno_message(err));
    }
    if (::fstat(fd.get(), &st) != 0) throw FileError(path, "cannot stat: " + errno_message(errno));
    if (S_ISDIR(st.st_mode)) throw FileError(path, "is a directory, not a file");
    return fd;
}

// The size of the regular file at path, or 0 when it cannot be examined (the open that follows names the error).
inline std::size_t size_or_zero(const std::filesystem::path& path) noexcept {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? static_cast<std::size_t>(st.st_size) : 0;
}

// Reads file bytes from offset into the parts in order until they are full or the file ends (EINTR
// and short reads retried); returns the bytes read. One preadv call fills them all in the usual case.
inline std::size_t read_at(int fd, std::span<const std::span<std::byte>> parts, std::size_t offset,
                           const std::filesystem::path& path) {
    iovec small[8];
    std::vector<iovec> large;  // many parts: a load straight into a network's parameters
    if (parts.size() > std::size(small)) large.resize(parts.size());
    iovec* const iov = large.empty() ? small : large.data();
    std::size_t count = 0, wanted = 0;
    for (const auto part : parts)
        if (!part.empty()) iov[count++] = {part.data(), part.size()}, wanted += part.size();
    std::size_t done = 0;
    iovec* next = iov;
    while (done < wanted) {
        const auto n = static_cast<int>(std::min<std::size_t>(count, IOV_MAX));
        const ssize_t r = ::preadv(fd, next, n, static_cast<off_t>(offset + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            throw FileError(path, "cannot read: " + errno_message(errno));
        }
        if (r == 0) break;  // the file ended (or shrank)
        done += static_cast<std::size_t>(r);
        for (auto left = static_cast<std::size_t>(r); count > 0 && left > 0;) {
            const std::size_t step = std::min(left, next->iov_len);
            next->iov_base = static_cast<std::byte*>(next->iov_base) + step;
            next->iov_len -= step;
            left -= step;
            if (next->iov_len == 0) ++next, --count;
        }
    }
    return done;
}
inline std::size_t read_at(int fd, std::span<std::byte> out, std::size_t offset, const std::filesystem::path& path) {
    const std::span<std::byte> parts[1] = {out};
    return read_at(fd, parts, offset, path);
}

// A piece of a file to read: length dest.size() from offset into dest.
struct FilePiece {
    std::size_t offset;
    std::span<std::byte> dest;
};

// Reads every piece (in any order; they must not overlap) straight into its destination. Pieces at most
// max_gap bytes apart share one preadv, the bytes between them going to a scratch buffer, so reading a
// whole network's tensors costs about one read() of the file. Returns false if the file ended early.
inline bool read_pieces(int fd, std::vector<FilePiece> pieces, const std::filesystem::path& path,
                        std::size_t max_gap = std::size_t{4} << 10) {
    std::sort(pieces.begin(), pieces.end(), [](const FilePiece& a, const FilePiece& b) { return a.offset < b.offset; });
    const auto scratch = std::make_unique_for_overwrite<std::byte[]>(max_gap);
    std::vector<std::span<std::byte>> parts;
    for (std::size_t i = 0; i < pieces.size();) {
        const std::size_t start = pieces[i].offset;
        std::size_t end = start, wanted = 0;
        parts.clear();
        for (; i < pieces.size() && pieces[i].offset >= end && pieces[i].offset - end <= max_gap; ++i) {
            if (pieces[i].offset > end) parts.push_back({scratch.get(), pieces[i].offset - end});
            parts.push_back(pieces[i].dest);
            end = pieces[i].offset + pieces[i].dest.size();
            wanted = end - start;
        }
        if (read_at(fd, parts, start, path) != wanted) return false;
    }
    return true;
}

}  // namespace detail

// A file's bytes in memory, read-only, valid while the object lives: a private mapping, or for a
// file of at most small_file bytes a plain read into an owned buffer. Mapping, faulting in and
// unmapping a small file costs several times reading it (0.5 MiB: ~120-210 us against ~24 us on
// this project's machines, whose page-table changes are expensive), and a small file is read whole anyway.
class MappedFile {
public:
    static constexpr std::size_t small_file = std::size_t{1} << 20;

    // populate = true faults every page in up front: right for a reader that copies it all at once,
    // wrong for a zero-copy open that may touch little of a large file.
    explicit MappedFile(const std::filesystem::path& path, bool populate = false) : path_(path) {
        struct stat st {};
        const auto fd = detail::open_for_reading(path, st);
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ == 0) return;  // mmap of 0 bytes is an error; an empty file is simply empty
        if (size_ <= small_file) {
            owned_ = std::make_unique_for_overwrite<std::byte[]>(size_);
            size_ = detail::read_at(fd.get(), {owned_.get(), size_}, 0, path);  // fewer if it shrank meanwhile
            data_ = owned_.get();
            return;
        }
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd.get(), 0);
        if (p == MAP_FAILED) throw FileError(path, "cannot map into memory: " + detail::errno_message(errno));
        data_ = p;
    }
    MappedFile(MappedFile&& o) noexcept
        : path_(std::move(o.path_)), owned_(std::move(o.owned_)), data_(std::exchange(o.data_, nullptr)),
          size_(std::exchange(o.size_, 0)) {}
    MappedFile& operator=(MappedFile&& o) noexcept {
        if (this != &o) {
            unmap();
            path_ = std::move(o.path_);
            owned_ = std::move(o.owned_);
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile() { unmap(); }

    std::span<const std::byte> bytes() const noexcept { return {static_cast<const std::byte*>(data_), size_}; }
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    void unmap() noexcept {
        if (data_ && !owned_) ::munmap(data_, size_);
        owned_.reset();
        data_ = nullptr;
    }
    std::filesystem::path path_;
    std::unique_ptr<std::byte[]> owned_;  // a small file's bytes; empty when mapped
    void* data_ = nullptr;
    std::size_t size_ = 0;
};

// The whole file, copied into memory with pread (no stdio buffering in between).
inline std::vector<std::byte> read_whole_file(const std::filesystem::path& path) {
    struct stat st {};
    const auto fd = detail::open_for_reading(path, st);
    std::vector<std::byte> out(static_cast<std::size_t>(st.st_size));
    out.resize(detail::read_at(fd.get(), out, 0, path));  // fewer if it shrank while reading: keep what is there
    return out;
}

// Whether a committed file must survive a power loss (fsync), or only be complete for other processes.
enum class Durability { durable, page_cache };

// Writes a file atomically: bytes go to a fresh "<final>.<unique>.tmp" in the same folder; commit()
// fsyncs it, sets its mode, renames it over the final name and fsyncs the folder. Until commit the
// final name is untouched; an exception or destruction without commit removes the temp file.
class AtomicFile {
public:
    static constexpr const char* temp_suffix = ".tmp";

    explicit AtomicFile(std::filesystem::path final_path) : final_(std::move(final_path)) {
        if (final_.filename().empty()) throw FileError(final_, "is not a file name");
        std::error_code ec;
        if (std::filesystem::is_directory(final_, ec)) throw FileError(final_, "is a directory, not a file");
        static std::atomic<unsigned> counter{0};
        for (int attempt = 0; attempt < 100; ++attempt) {
            temp_ = final_;
            temp_ += std::string(".").append(std::to_string(::getpid())).append("-")
                         .append(std::to_string(counter++)).append(temp_suffix);  // (GCC 12 -O3 -Wrestrict dislikes +)
            const int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd >= 0) {
                fd_ = detail::Descriptor(fd);
                return;
            }
            if (errno != EEXIST) {
                const int err = errno;
                throw FileError(final_, "cannot create a temporary file beside it: " + detail::errno_message(err));
            }
        }
        throw FileError(final_, "cannot create a unique temporary file beside it");
    }
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    AtomicFile(AtomicFile&& o) noexcept
        : final_(std::move(o.final_)), temp_(std::exchange(o.temp_, {})), fd_(std::move(o.fd_)), written_(o.written_) {}
    AtomicFile& operator=(AtomicFile&&) = delete;
    ~AtomicFile() { discard(); }

    // Writes every byte of every span, in order (one writev call where the kernel allows).
    void write(std::span<const std::span<const std::byte>> pieces) {
        iovec iov[64];
        std::size_t i = 0;
        while (i < pieces.size()) {
            std::size_t n = 0;
            for (; n < std::size(iov) && i + n < pieces.size(); ++n)
                iov[n] = {const_cast<std::byte*>(pieces[i + n].data()), pieces[i + n].size()};
            write_iov(iov, n);
            i += n;
        }
    }
    void write(std::span<const std::byte> bytes) {
        iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
        write_iov(&iov, 1);
    }
    std::size_t bytes_written() const noexcept { return written_; }

    // Puts the file under its final name with the given mode (MindSpore: owner read-only), durable:
    // fsync of the file before the rename and of the folder after. Durability::page_cache skips both
    // fsyncs (what MindSpore's and PyTorch's saves do): still all or nothing under the final name for
    // other processes, but a power loss may lose it.
    void commit(mode_t mode = 0400, Durability durability = Durability::durable) {
        const bool durable = durability == Durability::durable;
        if (durable && ::fsync(fd_.get()) != 0) fail("cannot flush to disk");
        if (::fchmod(fd_.get(), mode) != 0) fail("cannot set the file mode");
        fd_.reset();
        if (::rename(temp_.c_str(), final_.c_str()) != 0) {
            const int err = errno;
            discard();
            throw FileError(final_, "cannot rename the finished temporary file into place: " +
                                        detail::errno_message(err));
        }
        temp_.clear();
        if (durable) sync_directory(final_.parent_path());
    }

    const std::filesystem::path& temp_path() const noexcept { return temp_; }

    static void sync_directory(const std::filesystem::path& dir) {
        const auto d = dir.empty() ? std::filesystem::path(".") : dir;
        detail::Descriptor fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (fd.get() >= 0) ::fsync(fd.get());  // best effort: some filesystems refuse directory fsync
    }

private:
    void write_iov(iovec* iov, std::size_t count) {
        while (count > 0) {
            const ssize_t r = ::writev(fd_.get(), iov, static_cast<int>(count));
            if (r < 0) {
                if (errno == EINTR) continue;
                fail("cannot write");
            }
            auto left = static_cast<std::size_t>(r);
            written_ += left;
            while (count > 0 && left >= iov->iov_len) {
                left -= iov->iov_len;
                ++iov;
                --count;
            }
            if (count > 0) {
                iov->iov_base = static_cast<char*>(iov->iov_base) + left;
                iov->iov_len -= left;
            }
        }
    }
    [[noreturn]] void fail(const char* what) {
        const int err = errno;
        discard();
        throw FileError(final_, std::string(what) + ": " + detail::errno_message(err) +
                                    "; the previous file under this name, if any, is unchanged");
    }
    void discard() noexcept {
        fd_.reset();
        if (!temp_.empty()) ::unlink(temp_.c_str());
        temp_.clear();
    }

    std::filesystem::path final_, temp_;
    detail::Descriptor fd_;
    std::size_t written_ = 0;
};

}  // namespace mindsave::io
