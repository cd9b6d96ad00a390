// Finding where to resume: the newest checkpoint of a format in a folder that reads back whole (its
// framing parses, and its CRC matches when it has one), or in a distributed run's folder the newest committed step.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "mindsave/checkpoint/manifest.hpp"
#include "mindsave/core/communicator.hpp"
#include "mindsave/core/dtype.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/core/record_views.hpp"
#include "mindsave/formats/ckpt.hpp"
#include "mindsave/formats/concepts.hpp"

namespace mindsave {

// The step a checkpoint was taken at: its global_step or step_num record, if it has one.
inline std::optional<std::int64_t> checkpoint_step(std::span<const RecordView> records) {
    for (const char* key : {"global_step", "step_num"}) {
        for (const auto& r : records) {
            if (r.name != key || r.is_string || r.data.size() != dtype_size(r.dtype) || !is_integral(r.dtype)) continue;
            std::int64_t v = 0;
            visit_dtype(r.dtype, [&](auto tag) {
                using T = decltype(tag);
                T x;
                std::memcpy(&x, r.data.data(), sizeof(T));
                if constexpr (std::is_integral_v<T>) v = static_cast<std::int64_t>(x);
            });
            return v;
        }
    }
    return std::nullopt;
}
inline std::optional<std::int64_t> checkpoint_step(const format::ckpt::Mapped& file) { return checkpoint_step(file.records()); }

namespace detail {

struct ResumePoint {
    std::int64_t step;  // -1: the file records none
    bool has_crc;       // it carries a checksum (verified while reading)
};

// A file of Format read whole with its checksums verified; throws when it is damaged.
template <ReadableFormat Format>
ResumePoint resume_point(const std::filesystem::path& path) {
    const auto options = format::detail::read_options_with_crc_check<Format>(true);
    if constexpr (MappedFormat<Format>) {
        const typename Format::Mapped file(path, options);
        // Only a .ckpt cut at a record boundary still parses, so only there does a missing footer betray a cut copy.
        bool has_crc = false;
        if constexpr (std::is_same_v<Format, format::ckpt>) has_crc = file.contents().has_crc();
        return {checkpoint_step(file.records()).value_or(-1), has_crc};
    } else {
        const auto records = Format::read(path, options);
        RecordViews views;
        for (const auto& r : records) views.add(r);
        return {checkpoint_step(views.views()).value_or(-1), false};
    }
}

}  // namespace detail

// The newest valid file of Format (.ckpt by default) in directory whose name starts with prefix (any
// prefix when empty): newest by recorded step, then by modification time. nullopt when there is none.
// A distributed run's folder (it holds manifests): this rank's file (get_rank()) of the newest committed
// step whose every file is whole; every rank then resumes from the same step. A process outside a group
// (get_group_size() 1) gets rank 0's file: in data parallel each rank's file is a full copy.
template <ReadableFormat Format = format::ckpt>
    requires format_requirement::has_extension<Format>
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& directory,
                                                       const std::string& prefix = "") {
    if (is_distributed_checkpoint_folder(directory)) {
        const auto step = latest_committed_step(directory, prefix);
        if (!step) return std::nullopt;
        const int ranks = get_group_size();
        if (ranks > 1 && step->files.size() > 1 && step->group_size != ranks)
            throw ConfigError("latest_checkpoint: the newest committed step in " + directory.string() + " ('" +
                              step->name + "') was saved by " + std::to_string(step->group_size) + " ranks; this run has " +
                              std::to_string(ranks) + ". Resume on " + std::to_string(step->group_size) +
                              " ranks, or load one rank's file (a full copy in data parallel) by its path");
        return directory / step->file_for(ranks > 1 ? get_rank() : 0).path;
    }
    struct Candidate {
        std::int64_t step;
        std::filesystem::file_time_type time;
        std::filesystem::path path;
        bool has_crc;
    };
    std::vector<Candidate> found;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(directory, ec)) {
        const std::string name = e.path().filename().string();
        if (!name.ends_with(Format::extension) || !name.starts_with(prefix) || !e.is_regular_file(ec)) continue;
        try {
            const auto point = detail::resume_point<Format>(e.path());
            found.push_back({point.step, std::filesystem::last_write_time(e.path(), ec), e.path(), point.has_crc});
        } catch (const Error&) {  // damaged or unreadable: not a place to resume from
        }
    }
    // Where checkpoints carry CRC footers, one without is a cut copy (a cut at a record boundary
    // still parses): passed over.
    if (std::any_of(found.begin(), found.end(), [](const Candidate& c) { return c.has_crc; }))
        std::erase_if(found, [](const Candidate& c) { return !c.has_crc; });
    if (found.empty()) return std::nullopt;
    return std::max_element(found.begin(), found.end(), [](const Candidate& a, const Candidate& b) {
               return std::tie(a.step, a.time, a.path) < std::tie(b.step, b.time, b.path);
           })->path;
}

}  // namespace mindsave
