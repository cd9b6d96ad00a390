// What the whole-file formats (ckpt, safetensors, pth) share: a file opened through a memory map
// with Format::parse's records as views into it, the copying read built on the same parse, and any
// Mapped format as a load plan.
#pragma once

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mindsave/core/record.hpp"
#include "mindsave/core/record_plan.hpp"
#include "mindsave/io/file.hpp"

namespace mindsave::format::detail {

// Format::Mapped: records are views into the file's bytes, valid while this object lives: a memory map
// (zero copy), or for a file of at most io::MappedFile::small_file bytes one read into memory.
template <class Format>
class MappedContents {
public:
    // populate: every page set up at once, for a reader that copies it all (io::MappedFile).
    explicit MappedContents(const std::filesystem::path& path, const typename Format::ReadOptions& options = {},
                            bool populate = false)
        : file_(path, populate), contents_(Format::parse(file_.bytes(), path, options)) {}
    const std::vector<RecordView>& records() const noexcept { return contents_.records(); }
    const typename Format::Contents& contents() const noexcept { return contents_; }
    std::span<const std::byte> bytes() const noexcept { return file_.bytes(); }

private:
    io::MappedFile file_;
    typename Format::Contents contents_;
};

// Format::Mapped as a load plan: the headers of its views, and each planned record copied from the
// view (one copy, from the mapping) straight into its destination. For formats without a Plan of their own.
template <class Format>
class MappedPlan {
public:
    explicit MappedPlan(const std::filesystem::path& path, const typename Format::ReadOptions& options = {})
        : MappedPlan(typename Format::Mapped(path, options)) {}
    explicit MappedPlan(typename Format::Mapped file) : file_(std::move(file)) {
        const auto& records = file_.records();
        headers_.reserve(records.size());
        for (const auto& r : records) headers_.push_back({std::string(r.name), r.dtype, r.shape, r.is_string, r.data.size()});
    }
    const std::vector<RecordHeader>& headers() const noexcept { return headers_; }
    void read(std::span<const ReadJob> jobs) const {
        for (const auto& job : jobs) {
            const auto data = file_.records()[job.record].data;
            if (job.dest.size() != data.size())
                throw Error("MappedPlan::read: the destination of '" + headers_[job.record].name + "' does not fit it");
            if (!job.dest.empty()) std::memcpy(job.dest.data(), data.data(), job.dest.size());
        }
    }

private:
    typename Format::Mapped file_;
    std::vector<RecordHeader> headers_;
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
// The same for the records keep(name) accepts; the others are not copied. The map is populated too: setting
// up every page at once costs less than faulting in the ones a copy touches (most of them, in a load).
template <class Format, class Keep>
std::vector<TensorRecord> read_records(const std::filesystem::path& path, const typename Format::ReadOptions& options,
                                       Keep&& keep) {
    const io::MappedFile file(path, /*populate=*/true);
    return copy_records(Format::parse(file.bytes(), path, options).records(), keep);
}

}  // namespace mindsave::format::detail
