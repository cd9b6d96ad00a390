// A file's bytes read or written whole, for tests that compare files byte for byte or damage them on
// purpose (never through mindsave's own readers and writers, which are what is under test).
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <vector>

namespace mindsave::testing {

inline std::vector<char> bytes_of(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

// Replaces the file (a read-only one too: it is removed first).
inline void write_bytes(const std::filesystem::path& p, std::span<const char> b) {
    std::filesystem::remove(p);
    std::ofstream out(p, std::ios::binary);
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
}

}  // namespace mindsave::testing
