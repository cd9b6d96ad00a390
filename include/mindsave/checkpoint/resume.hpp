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

// A step saved by another number of ranks cannot be resumed rank for rank.
inline void require_group_size(const CheckpointManifest& step, int ranks, const std::filesystem::path& directory) {
    if (ranks > 1 && step.files.size() > 1 && step.group_size != ranks)
        throw ConfigError("latest_checkpoint: the newest committed step in " + directory.string() + " ('" + step.name +
                          "') was saved by " + std::to_string(step.group_size) + " ranks; this run has " +
                          std::to_string(ranks) + ". Resume on " + std::to_string(step.group_size) +
                          " ranks, or load one rank's file (a full copy in data parallel) by its path");
}

}  // namespace detail

// The newest valid file of Format (.ckpt by default) in directory whose name starts with prefix (any
// prefix when empty): newest by recorded step, then by modification time. nullopt when there is none.
// A distributed run's folder (it holds manifests): this rank's file (get_rank()) of the newest committed
// step whose every file is whole; every rank then resumes from the same step. It reads every rank's file, so
// every rank must see the folder (one host, a shared filesystem); latest_checkpoint(comm, directory) does not.
// A process outside a group (get_group_size() 1) gets rank 0's file: in data parallel each is a full copy.
template <ReadableFormat Format = format::ckpt>
    requires format_requirement::has_extension<Format>
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& directory,
                                                       const std::string& prefix = "") {
    if (is_distributed_checkpoint_folder(directory)) {
        const auto step = latest_committed_step(directory, prefix);
        if (!step) return std::nullopt;
        const int ranks = get_group_size();
        detail::require_group_size(*step, ranks, directory);
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

// Collective (every rank of comm calls it): this rank's file of the newest committed step in a distributed
// run's folder whose every rank's file is whole, for folders each host holds on its own disk. Rank 0 reads
// the manifests and sends them; each rank checks only its own files; an allreduce agrees on the step.
template <Communicator C>
std::optional<std::filesystem::path> latest_checkpoint(C& comm, const std::filesystem::path& directory,
                                                       const std::string& prefix = "") {
    std::string listing;  // rank 0's manifests, oldest first, one JSON text a line
    if (comm.rank() == 0)
        for (const auto& m : committed_steps(directory, prefix)) listing += to_json(m);
    listing = broadcast_string(comm, std::move(listing), 0);
    std::vector<CheckpointManifest> steps;
    for (std::size_t at = 0; at < listing.size();) {
        const std::size_t end = listing.find('\n', at);
        steps.push_back(parse_manifest(std::string_view(listing).substr(at, end - at), directory / "rank 0's manifest"));
        at = end == std::string::npos ? listing.size() : end + 1;
    }
    if (steps.empty()) return std::nullopt;
    detail::require_group_size(steps.back(), comm.size(), directory);
    const int rank = comm.rank();
    std::vector<double> whole(steps.size(), 0.0);  // per step: 1 where this rank's file is whole
    for (std::size_t k = 0; k < steps.size(); ++k) {
        const auto& step = steps[k];
        if (step.files.size() > 1 && step.group_size != comm.size()) continue;
        whole[k] = verify_file(step, step.file_for(rank)) ? 0.0 : 1.0;
    }
    comm.allreduce_sum(std::span<double>(whole));
    for (std::size_t k = steps.size(); k-- > 0;)
        if (whole[k] == static_cast<double>(comm.size())) return directory / steps[k].file_for(rank).path;
    return std::nullopt;
}

}  // namespace mindsave
