// Where the tests find ../shared (real MNIST, real MindSpore files), and how they skip without it.
// A missing folder skips a test on a user's clone and fails it in CI (CI=true).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

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

// Returns path if it exists. Otherwise fails in CI, or reports the test as skipped: Catch2 v2 has
// no skip, so the process exits with 4, which CTest maps to "Skipped" (SKIP_RETURN_CODE).
inline std::filesystem::path require_path(const std::filesystem::path& path, const std::string& how_to_get_it) {
    if (std::filesystem::exists(path)) return path;
    if (running_in_ci()) FAIL("test data missing in CI: " << path.string() << " (" << how_to_get_it << ")");
    WARN("SKIPPED: test data not found: " << path.string() << " (" << how_to_get_it << ")");
    std::exit(4);
}

// A file or folder under ../shared (real MNIST, real MindSpore files).
inline std::filesystem::path require_shared(const std::filesystem::path& relative) {
    return require_path(shared_dir() / relative, "set -DMINDSAVE_SHARED_DIR=... or the MINDSAVE_SHARED_DIR variable");
}

// A fixture that is a real damaged file (its name says _CORRUPTED_, as ../shared's README lists it):
// every reader must refuse it with a FormatError, never load it.
inline bool is_damaged_fixture(const std::filesystem::path& p) {
    return p.filename().string().find("_CORRUPTED_") != std::string::npos;
}

// The real MindSpore .ckpt files under ../shared, sorted: the ones that must read, or the damaged ones.
inline std::vector<std::filesystem::path> ckpt_fixtures(bool damaged = false) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(require_shared("fixtures/mindspore/ckpt")))
        if (e.is_regular_file() && e.path().extension() == ".ckpt" && is_damaged_fixture(e.path()) == damaged)
            out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

// Real Fashion-MNIST from the Debian package dataset-fashion-mnist.
inline std::filesystem::path require_fashion_mnist() {
    return require_path("/usr/share/datasets/fashion-mnist", "apt-get install dataset-fashion-mnist");
}

}  // namespace mindsave::testing

namespace mindsave::testing {

// A tool a test needs (python3-onnx, Node's onnxruntime-node): skipped when absent, failed in CI.
inline void require_tool(bool available, const std::string& what, const std::string& how_to_get_it) {
    if (available) return;
    if (running_in_ci()) FAIL("tool missing in CI: " << what << " (" << how_to_get_it << ")");
    WARN("SKIPPED: " << what << " not available (" << how_to_get_it << ")");
    std::exit(4);
}

}  // namespace mindsave::testing
