// What the whole-file formats (ckpt, safetensors, pth) share: a file opened through a memory map
// with Format::parse's records as views into it, and the copying read built on the same parse.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "mindsave/core/record.hpp"
#include "mindsave/io/file.hpp"

namespace mindsave::format::detail {

// Format::Mapped: records are views into the file's bytes, valid while this object lives: a memory map
// (zero copy), or for a file of at most io::MappedFile::small_file bytes one read into memory.
template <class Format>
class MappedContents {
public:
    explicit MappedContents(const std::filesystem::path& path, const typename Format::ReadOptions& options = {})
        : file_(path), contents_(Format::parse(file_.bytes(), path, options)) {}
    const std::vector<RecordView>& records() const noexcept { return contents_.records(); }
    const typename Format::Contents& contents() const noexcept { return contents_; }
    std::span<const std::byte> bytes() const noexcept { return file_.bytes(); }

private:
    io::MappedFile file_;
    typename Format::Contents contents_;
};

// The records keep(name) accepts, in their order.
template <class Keep>
std::vector<TensorRecord> keep_only(std::vector<TensorRecord> records, Keep&& keep) {
    std::erase_if(records, [&](const TensorRecord& r) { return !keep(std::string_view(r.name)); });
    return records;
}

// Format::read: every record copied out, in the order parse gives. The file is mapped and
// populated up front, so each tensor's bytes are copied once, from the page cache into its record.
template <class Format>
std::vector<TensorRecord> read_records(const std::filesystem::path& path, const typename Format::ReadOptions& options) {
    const io::MappedFile file(path, /*populate=*/true);
    return copy_records(Format::parse(file.bytes(), path, options).records());
}
// The same for the records keep(name) accepts; the others are not copied (nor, for the most part, faulted in).
template <class Format, class Keep>
std::vector<TensorRecord> read_records(const std::filesystem::path& path, const typename Format::ReadOptions& options,
                                       Keep&& keep) {
    const io::MappedFile file(path);
    return copy_records(Format::parse(file.bytes(), path, options).records(), keep);
}

}  // namespace mindsave::format::detail
