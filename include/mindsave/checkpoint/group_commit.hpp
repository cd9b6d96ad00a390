// ModelCheckpoint's part in a data-parallel run: each rank's folder, rank 0's word on names, timed saves and
// signals, and the two collectives that turn N durable per-rank files into one committed step (a manifest).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/checkpoint/manifest.hpp"
#include "mindsave/core/communicator.hpp"
#include "mindsave/core/errors.hpp"

namespace mindsave::detail {

class GroupCommit {
public:
    explicit operator bool() const noexcept { return static_cast<bool>(group_); }
    int rank() const { return group_.rank(); }
    int size() const { return group_.size(); }

    // Joins group, writing (or, when !writes, only committing) into {directory}/rank_{r}, which is made
    // and returned. Every rank must name the same directory; a rank that cannot make its folder is an error on all.
    std::filesystem::path join(CommunicatorRef group, const std::filesystem::path& directory, bool writes) {
        const auto named = allgather_strings(group, directory.lexically_normal().string());
        for (std::size_t r = 1; r < named.size(); ++r)
            if (named[r] != named[0])
                throw ConfigError("ModelCheckpoint in a data-parallel run: rank 0 names the checkpoint directory '" +
                                  named[0] + "' and rank " + std::to_string(r) + " '" + named[r] +
                                  "'; give every rank the same one (it makes rank_{r}/ inside for each rank itself)");
        group_ = group;
        directory_ = directory;
        files_directory_ = rank_directory(directory_, group_.rank());
        std::string problem;
        if (writes) {
            std::error_code ec;
            std::filesystem::create_directories(files_directory_, ec);
            if (!std::filesystem::is_directory(files_directory_))
                problem = "cannot create " + files_directory_.string() + ": " + ec.message();
        }
        if (const auto failed = failures(allgather_strings(group_, problem), ""); !failed.empty()) {
            group_ = {};
            throw FileError(directory, "ModelCheckpoint cannot prepare the ranks' folders: " + failed +
                                           "give every rank a writable checkpoint directory");
        }
        return files_directory_;
    }

    // rank 0's s, on every rank.
    std::string from_rank_0(std::string s) { return broadcast_string(group_, std::move(s), 0); }

    // One step's decisions for all: rank 0's `due` (its clock), and a signal if any rank got one.
    struct Vote {
        bool due = false;
        std::optional<int> signal;
        bool signal_elsewhere = false;  // the signal came to another rank, not this one
    };
    Vote vote(bool due, std::optional<int> signal, int fallback_signal) {
        std::array<double, 3> votes{group_.rank() == 0 && due ? 1.0 : 0.0, signal ? 1.0 : 0.0, signal ? double(*signal) : 0.0};
        group_.allreduce_sum(votes);
        Vote v{votes[0] > 0, signal, false};
        if (!signal && votes[1] > 0) {
            const double mean = votes[2] / votes[1];  // mpirun forwards one signal to all: that one
            v.signal = mean == std::floor(mean) ? static_cast<int>(mean) : fallback_signal;
            v.signal_elsewhere = true;
        }
        return v;
    }

    // The global commit of step, whose file on this rank is `file` (digest: written whole; error: not; neither:
    // this rank writes none). Every rank's report goes to all; any failure is a FileError on every rank and no
    // manifest. Else rank 0 writes the manifest and removes the manifests expire(manifest) names (older steps,
    // dropped only now that this one is committed), and every rank deletes its own files of those steps.
    // Returns the path this rank resumes from.
    template <class Expire>
    std::filesystem::path commit(CheckpointManifest step, const std::optional<FileDigest>& digest, const std::string& error,
                                 const std::filesystem::path& file, std::string_view extension, Expire&& expire) {
        const std::string said = !error.empty() ? "error " + error
                                 : digest      ? "ok " + std::to_string(digest->size) + " " + std::to_string(digest->crc32)
                                               : std::string("none");
        const auto reports = allgather_strings(group_, said);
        for (std::size_t r = 0; r < reports.size(); ++r) {
            if (!reports[r].starts_with("ok ")) continue;
            RankFile f{static_cast<int>(r), "rank_" + std::to_string(r) + "/" + file.filename().string(), {}};
            std::istringstream(reports[r].substr(3)) >> f.digest.size >> f.digest.crc32;
            step.files.push_back(std::move(f));
        }
        std::string failed = failures(reports, "error ");
        if (failed.empty() && step.files.empty()) failed = "no rank wrote a file; ";
        std::error_code ec;
        if (!failed.empty()) {
            if (digest) std::filesystem::remove(file, ec);
            throw FileError(directory_, "checkpoint step '" + step.name + "' was not committed (no manifest): " + failed +
                                            "the newest committed step stays the one to resume from; mend those ranks' "
                                            "disks or folders");
        }
        std::string verdict = "ok";
        if (group_.rank() == 0) {
            try {
                const auto manifest = directory_ / (step.name + std::string(manifest_extension));
                write_manifest(manifest, step);
                for (const auto& old : expire(manifest)) {
                    std::filesystem::remove(old, ec);  // the step is gone once its manifest is
                    verdict += "\n" + old.stem().string();
                }
            } catch (const std::exception& e) {
                verdict = "error " + std::string(e.what());
            }
        }
        verdict = from_rank_0(verdict);
        if (verdict.starts_with("error ")) {
            if (digest) std::filesystem::remove(file, ec);
            throw FileError(directory_, "checkpoint step '" + step.name + "' was not committed: rank 0 could not write "
                                            "its manifest: " + verdict.substr(6));
        }
        std::istringstream dropped(verdict);
        std::string name;
        std::getline(dropped, name);  // "ok"
        while (std::getline(dropped, name))
            std::filesystem::remove(files_directory_ / (name + std::string(extension)), ec);
        return directory_ / step.file_for(group_.rank()).path;
    }

private:
    // "rank r: what; " for every report that starts with tag (all non-empty ones when tag is empty).
    static std::string failures(const std::vector<std::string>& reports, std::string_view tag) {
        std::string out;
        for (std::size_t r = 0; r < reports.size(); ++r)
            if (!reports[r].empty() && reports[r].starts_with(tag))
                out += "rank " + std::to_string(r) + ": " + reports[r].substr(tag.size()) + "; ";
        return out;
    }

    CommunicatorRef group_;
    std::filesystem::path directory_, files_directory_;
};

}  // namespace mindsave::detail
