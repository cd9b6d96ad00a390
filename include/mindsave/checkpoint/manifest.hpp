// The global commit of a distributed checkpoint: rank 0's manifest of one step, naming every rank's file
// ({directory}/rank_{r}/...) with its size and CRC-32. A step exists only when its manifest does.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/json.hpp"

namespace mindsave {

inline constexpr std::string_view manifest_extension = ".manifest";
inline constexpr std::string_view manifest_format = "mindsave distributed checkpoint";

// The folder rank writes its checkpoints into: {directory}/rank_{rank}, the layout MindSpore's
// transform_checkpoints reads.
inline std::filesystem::path rank_directory(const std::filesystem::path& directory, int rank) {
    return directory / ("rank_" + std::to_string(rank));
}

// A file's size and CRC-32 (zlib's), read in 1 MiB pieces.
struct FileDigest {
    std::uint64_t size = 0;
    std::uint32_t crc32 = 0;
    friend bool operator==(const FileDigest&, const FileDigest&) = default;
};

inline FileDigest digest_file(const std::filesystem::path& path) {
    struct stat st {};
    const auto fd = io::detail::open_for_reading(path, st);
    std::vector<std::byte> buffer(std::size_t{1} << 20);
    FileDigest d;
    for (;;) {
        const std::size_t n = io::detail::read_at(fd.get(), buffer, d.size, path);
        if (n == 0) break;
        d.crc32 = io::crc32(std::span(buffer.data(), n), d.crc32);
        d.size += n;
        if (n < buffer.size()) break;
    }
    return d;
}

struct RankFile {
    int rank = 0;
    std::string path;  // relative to the manifest's folder, '/'-separated: "rank_1/CKP-1_32.ckpt"
    FileDigest digest;
};

// One committed step. Written by rank 0 once every rank's file is durable, atomically and durably itself.
struct CheckpointManifest {
    std::string name;  // the step's file name without its extension: "CKP-1_32"
    std::uint64_t epoch = 0, step_in_epoch = 0, global_step = 0;
    int group_size = 1;
    std::vector<RankFile> files;  // in rank order; rank 0's alone when only rank 0 writes
    std::filesystem::path path;   // where it was read from

    // The file rank loads: its own, or rank 0's full copy when rank 0 alone wrote.
    const RankFile& file_for(int rank) const {
        if (files.size() == 1) return files.front();
        for (const auto& f : files)
            if (f.rank == rank) return f;
        throw ParameterError("checkpoint step '" + name + "' (" + path.string() + ") was saved by " +
                             std::to_string(group_size) + " ranks and has no file for rank " + std::to_string(rank) +
                             "; resume it on " + std::to_string(group_size) + " ranks");
    }
};

inline std::string to_json(const CheckpointManifest& m) {
    std::string out = "{\"format\": ";
    io::detail::append_json_string(out, manifest_format);
    out += ", \"version\": 1, \"name\": ";
    io::detail::append_json_string(out, m.name);
    out += ", \"epoch\": " + std::to_string(m.epoch) + ", \"step_in_epoch\": " + std::to_string(m.step_in_epoch) +
           ", \"global_step\": " + std::to_string(m.global_step) + ", \"group_size\": " + std::to_string(m.group_size) +
           ", \"files\": [";
    for (std::size_t i = 0; i < m.files.size(); ++i) {
        const auto& f = m.files[i];
        out += i ? ", " : "";
        out += "{\"rank\": " + std::to_string(f.rank) + ", \"path\": ";
        io::detail::append_json_string(out, f.path);
        out += ", \"size\": " + std::to_string(f.digest.size) + ", \"crc32\": " + std::to_string(f.digest.crc32) + "}";
    }
    return out + "]}\n";
}

// A manifest's text (to_json's), as read from path (named in errors, and the folder its files are relative to).
inline CheckpointManifest parse_manifest(std::string_view text, const std::filesystem::path& path) {
    CheckpointManifest m;
    m.path = path;
    try {
        io::detail::JsonReader in(text);
        std::string key, format;
        std::uint64_t version = 0;
        bool has_files = false;
        in.begin_object();
        while (in.next_member(key)) {
            if (key == "format") format = in.string();
            else if (key == "version") version = in.uint64();
            else if (key == "name") m.name = in.string();
            else if (key == "epoch") m.epoch = in.uint64();
            else if (key == "step_in_epoch") m.step_in_epoch = in.uint64();
            else if (key == "global_step") m.global_step = in.uint64();
            else if (key == "group_size") m.group_size = static_cast<int>(in.uint64());
            else if (key == "files") {
                has_files = true;
                in.begin_array();
                while (in.next_element()) {
                    RankFile f;
                    in.begin_object();
                    while (in.next_member(key)) {
                        if (key == "rank") f.rank = static_cast<int>(in.uint64());
                        else if (key == "path") f.path = in.string();
                        else if (key == "size") f.digest.size = in.uint64();
                        else if (key == "crc32") f.digest.crc32 = static_cast<std::uint32_t>(in.uint64());
                        else in.skip_value();
                    }
                    m.files.push_back(std::move(f));
                }
            } else in.skip_value();
        }
        if (format != manifest_format || version != 1)
            throw FormatError(path, "is not a mindsave checkpoint manifest of version 1");
        if (!has_files || m.files.empty() || m.name.empty() || m.group_size < 1)
            throw FormatError(path, "is a checkpoint manifest without its name, group size or files");
        for (const auto& f : m.files)
            if (f.path.empty() || f.path.front() == '/' || f.path.find("..") != std::string::npos)
                throw FormatError(path, "names a file outside its folder: '" + f.path + "'");
    } catch (const io::detail::JsonError& e) {
        throw FormatError(path, "is a damaged checkpoint manifest: " + e.what + " at byte " + std::to_string(e.offset));
    }
    return m;
}

inline CheckpointManifest read_manifest(const std::filesystem::path& path) {
    const auto bytes = io::read_whole_file(path);
    return parse_manifest(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

// Atomic and durable: the step becomes committed when the rename lands.
inline void write_manifest(const std::filesystem::path& path, const CheckpointManifest& m) {
    const std::string text = to_json(m);
    io::AtomicFile file(path);
    file.write(std::as_bytes(std::span(text.data(), text.size())));
    file.commit(0400);
}

// Why the file f of the step m does not match its manifest (missing, another size, another CRC), or nullopt.
inline std::optional<std::string> verify_file(const CheckpointManifest& m, const RankFile& f) {
    try {
        const auto d = digest_file(m.path.parent_path() / f.path);
        if (d.size != f.digest.size)
            return f.path + " holds " + std::to_string(d.size) + " bytes, the manifest says " + std::to_string(f.digest.size);
        if (d.crc32 != f.digest.crc32) return f.path + " does not match the CRC-32 its manifest records";
    } catch (const Error& e) {
        return e.what();
    }
    return std::nullopt;
}

// Why the step's files do not match its manifest, or nullopt when every one does.
inline std::optional<std::string> verify_step(const CheckpointManifest& m) {
    for (const auto& f : m.files)
        if (auto why = verify_file(m, f)) return why;
    return std::nullopt;
}

// The readable manifests in directory whose step name starts with prefix, oldest first (by global step,
// epoch, step, then modification time). Damaged manifests are passed over.
inline std::vector<CheckpointManifest> committed_steps(const std::filesystem::path& directory, const std::string& prefix = "") {
    struct Entry {
        std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::filesystem::file_time_type> key;
        CheckpointManifest manifest;
    };
    std::vector<Entry> found;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(directory, ec)) {
        const std::string name = e.path().filename().string();
        if (!name.ends_with(manifest_extension) || !name.starts_with(prefix) || !e.is_regular_file(ec)) continue;
        try {
            auto m = read_manifest(e.path());
            const auto time = std::filesystem::last_write_time(e.path(), ec);
            found.push_back({{m.global_step, m.epoch, m.step_in_epoch, time}, std::move(m)});
        } catch (const Error&) {
        }
    }
    std::sort(found.begin(), found.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
    std::vector<CheckpointManifest> out;
    out.reserve(found.size());
    for (auto& f : found) out.push_back(std::move(f.manifest));
    return out;
}

// The newest committed step whose every file is there whole (size and CRC as recorded), or nullopt.
inline std::optional<CheckpointManifest> latest_committed_step(const std::filesystem::path& directory,
                                                               const std::string& prefix = "") {
    auto steps = committed_steps(directory, prefix);
    for (auto it = steps.rbegin(); it != steps.rend(); ++it)
        if (!verify_step(*it)) return std::move(*it);
    return std::nullopt;
}

// Whether directory holds a distributed run's checkpoints (a manifest).
inline bool is_distributed_checkpoint_folder(const std::filesystem::path& directory) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(directory, ec))
        if (e.path().filename().string().ends_with(manifest_extension)) return true;
    return false;
}

}  // namespace mindsave
