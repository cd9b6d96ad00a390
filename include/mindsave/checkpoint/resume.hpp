// Finding where to resume: the newest checkpoint in a folder that reads back whole (its framing
// parses, and its CRC matches when it has one). Temp files and damaged files are passed over.
#pragma once

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/formats/ckpt.hpp"

namespace mindsave {

// The step a checkpoint was taken at: its global_step or step_num record, if it has one.
inline std::optional<std::int64_t> checkpoint_step(const format::ckpt::Mapped& file) {
    for (const char* key : {"global_step", "step_num"}) {
        for (const auto& r : file.records()) {
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

// The newest valid .ckpt in directory whose name starts with prefix (any prefix when empty):
// newest by recorded step, then by modification time. nullopt when there is none.
inline std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& directory,
                                                              const std::string& prefix = "") {
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
        if (!name.ends_with(format::ckpt::extension) || !name.starts_with(prefix) || !e.is_regular_file(ec)) continue;
        try {
            const format::ckpt::Mapped file(e.path(), {.crc_check = true});
            found.push_back({checkpoint_step(file).value_or(-1), std::filesystem::last_write_time(e.path(), ec), e.path(),
                             file.contents().has_crc()});
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
