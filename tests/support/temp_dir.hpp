// A fresh folder under the system temp dir for one test, removed with everything in it afterwards
// (the folder's own permissions restored first: some tests make it read-only).
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <string_view>

namespace mindsave::testing {

struct TempDir {
    std::filesystem::path path;

    explicit TempDir(std::string_view tag = "tmp") {
        static std::atomic<unsigned> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("mindsave_" + std::string(tag) + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::permissions(path, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
        std::filesystem::remove_all(path, ec);
    }

    std::filesystem::path operator/(const std::string& name) const { return path / name; }
};

}  // namespace mindsave::testing
