// Helpers shared by the export tests: temp folders, running the independent readers (python3-onnx,
// protoc's mind_ir code, ONNX Runtime) and comparing what they report with our tensors.
#pragma once

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "mindsave/io/crc32.hpp"
#include "mindsave/mindsave.hpp"
#include "support/shared_data.hpp"
#include "support/temp_dir.hpp"

namespace mindsave::export_testing {

namespace fs = std::filesystem;
using testing::TempDir;

struct Run {
    int status;
    std::string out;
};
inline Run run(const std::string& command) {
    Run r{-1, {}};
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p) return r;
    char buf[4096];
    while (const auto n = std::fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

inline const std::string python = MINDSAVE_PYTHON;
inline const std::string scripts = MINDSAVE_SOURCE_DIR "/tests/interop";
inline const std::string pb_dir = MINDSAVE_MINDIR_PB_DIR;

inline void require_python_onnx() {
    static const bool ok = run(python + " -c 'import onnx, google.protobuf'").status == 0;
    testing::require_tool(ok, "python3-onnx", "apt-get install python3-onnx python3-protobuf");
}
inline std::string node_command() {
    return "NODE_PATH=" MINDSAVE_NODE_MODULES " node " + scripts + "/run_onnx.js";
}
inline void require_onnxruntime() {
    static const bool ok =
        run("NODE_PATH=" MINDSAVE_NODE_MODULES " node -e \"require('onnxruntime-node')\"").status == 0;
    testing::require_tool(ok, "npm onnxruntime-node",
                          "ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix build/npm onnxruntime-node");
}

// "name -> crc32" of every tensor an independent reader printed ("init"/"param" lines).
inline std::map<std::string, std::string> crcs_from(const std::string& out, const std::string& tag) {
    std::map<std::string, std::string> m;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream l(line);
        std::string t, name, dtype, dims, crc;
        if (l >> t >> name >> dtype >> dims >> crc && t == tag) m[name] = dims + " " + crc;
    }
    return m;
}
inline std::multiset<std::string> ops_from(const std::string& out) {
    std::multiset<std::string> ops;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("op ")) ops.insert(line.substr(3));
    return ops;
}
// The same "dims crc" for our own parameters, for comparison.
template <class Net>
inline std::map<std::string, std::string> our_crcs(Net& net) {
    std::map<std::string, std::string> m;
    visit_parameters(net, [&](std::string_view name, auto& p) {
        const auto v = view_of(p);
        std::string dims;
        for (auto d : v.shape) dims += (dims.empty() ? "" : "x") + std::to_string(d);
        m[std::string(name)] = dims + " " + std::to_string(io::crc32(v.bytes));
    });
    return m;
}

inline std::vector<char> bytes_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
inline void write_bytes(const fs::path& p, const void* data, std::size_t n) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}

// Runs model in ONNX Runtime on images; returns its output.
inline std::vector<float> run_in_onnxruntime(const fs::path& model, const Tensor& images, const fs::path& work) {
    write_bytes(work / "input.bin", images.data(), images.size() * sizeof(float));
    std::string dims;
    for (auto d : images.shape()) dims += " " + std::to_string(d);
    const auto r = run(node_command() + " " + model.string() + " " + (work / "input.bin").string() + " " +
                       (work / "output.bin").string() + dims);
    INFO(r.out);
    REQUIRE(r.status == 0);
    const auto raw = bytes_of(work / "output.bin");
    std::vector<float> out(raw.size() / sizeof(float));
    std::memcpy(out.data(), raw.data(), out.size() * sizeof(float));
    return out;
}

inline float max_abs_diff(const Tensor& ours, const std::vector<float>& theirs) {
    REQUIRE(ours.size() == theirs.size());
    float m = 0;
    for (std::size_t i = 0; i < theirs.size(); ++i) m = std::max(m, std::abs(ours.data()[i] - theirs[i]));
    return m;
}

template <class Net>
inline void check_round_trip(Net& net, const fs::path& file) {
    const ParameterDict dict = load_checkpoint(file);
    std::size_t n = 0;
    visit_parameters(net, [&](std::string_view name, auto& p) {
        const auto v = view_of(p);
        const TensorRecord* r = dict.find(name);
        REQUIRE(r != nullptr);
        CHECK(r->shape == v.shape);
        REQUIRE(r->data.size() == v.bytes.size());
        CHECK(std::memcmp(r->data.data(), v.bytes.data(), v.bytes.size()) == 0);
        ++n;
    });
    CHECK(dict.size() == n);
}

}  // namespace mindsave::export_testing
