// Where the tests find ../shared (real MNIST, real MindSpore files), and how they skip without it.
// A missing folder skips a test on a user's clone and fails it in CI (CI=true).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

namespace mindsave::testing {

inline std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("MINDSAVE_SHARED_DIR")) return env;
    return MINDSAVE_SHARED_DIR;
}

inline bool running_in_ci() {
    const char* ci = std::getenv("CI");
    return ci && std::string(ci) == "true";
}

// Returns the path if it exists. Otherwise fails in CI, or reports the test as skipped:
// Catch2 v2 has no skip, so the process exits with 4, which CTest maps to "Skipped".
inline std::filesystem::path require_shared(const std::filesystem::path& relative) {
    const auto path = shared_dir() / relative;
    if (std::filesystem::exists(path)) return path;
    if (running_in_ci()) FAIL("shared test data missing in CI: " << path.string());
    WARN("SKIPPED: shared test data not found: " << path.string()
                                                 << " (set -DMINDSAVE_SHARED_DIR=... or MINDSAVE_SHARED_DIR)");
    std::exit(4);
}

}  // namespace mindsave::testing
