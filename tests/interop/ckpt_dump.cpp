// Helper for the Python cross-check: `write DIR` saves the interop mix with both writer generations
// (and a manifest of what was saved); `dump FILE...` prints as JSON what format::ckpt reads from files.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "interop_mix.hpp"

namespace fs = std::filesystem;
using namespace mindsave;

namespace {

std::string hex(std::string_view bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}
std::string hex(std::span<const std::byte> bytes) {
    return hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// Paths are the only free text printed; tags and strings go out as hex, so no UTF-8 questions arise.
std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
        else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else out += static_cast<char>(c);
    }
    return out + "\"";
}

template <class Seq>
std::string json_ints(const Seq& values) {
    std::string out = "[";
    bool first = true;
    for (auto v : values) {
        if (!first) out += ",";
        out += std::to_string(v);
        first = false;
    }
    return out + "]";
}

int write_mode(const fs::path& dir) {
    fs::create_directories(dir);
    interop::Mix mix;
    constexpr std::size_t slice = 100;  // small, so LeNet's tensors are split into many records
    std::ofstream manifest(dir / "manifest.json");
    manifest << "{\"slice_bytes\":" << slice << ",\"files\":[";
    bool first = true;
    for (const auto writer : {format::ckpt::Writer::v2_2, format::ckpt::Writer::v2_3})
        for (const bool crc : {false, true}) {
            const std::string version = writer == format::ckpt::Writer::v2_2 ? "2.2" : "2.3";
            const std::string name = "mix_v" + version + (crc ? "_crc" : "") + ".ckpt";
            mix.save(dir / name, writer, crc, slice);
            manifest << (first ? "" : ",") << "{\"file\":" << json_string(name) << ",\"writer\":\"" << version
                     << "\",\"crc\":" << (crc ? "true" : "false") << "}";
            first = false;
        }
    manifest << "],\"saved\":[\n";
    first = true;
    for (const auto& s : mix.saved()) {
        manifest << (first ? "" : ",\n") << "{\"tag_hex\":\"" << hex(s.tag) << "\",\"tensor_type\":"
                 << json_string(s.tensor_type) << ",\"shape\":" << json_ints(s.shape)
                 << ",\"is_str\":" << (s.is_str ? "true" : "false");
        if (s.is_str) manifest << ",\"text_hex\":\"" << hex(s.text) << "\"";
        else manifest << ",\"content\":\"" << hex(s.content) << "\"";
        manifest << "}";
        first = false;
    }
    manifest << "\n]}\n";
    manifest.close();
    if (!manifest) {
        std::cerr << "ckpt_dump: cannot write " << (dir / "manifest.json") << "\n";
        return 1;
    }
    return 0;
}

int dump_mode(const std::vector<fs::path>& files) {
    std::string out = "{\"files\":[\n";
    bool first_file = true;
    for (const auto& path : files) {
        const format::ckpt::Mapped file(path);
        out += first_file ? "" : ",\n";
        first_file = false;
        out += "{\"path\":" + json_string(path.string()) + ",\"crc\":" +
               (file.contents().has_crc() ? std::to_string(file.contents().stored_crc()) : "null") +
               ",\"records\":[\n";
        bool first = true;
        for (const auto& r : file.records()) {
            out += first ? "" : ",\n";
            first = false;
            out += "{\"tag_hex\":\"" + hex(r.name) + "\",\"is_str\":" + (r.is_string ? "true" : "false");
            if (r.is_string) {
                out += ",\"text_hex\":\"" + hex(*TensorRecord::from_view(r).text) + "\"";
            } else {
                out += ",\"tensor_type\":" + json_string(interop::mindspore_type_name(r.dtype)) +
                       ",\"shape\":" + json_ints(r.shape) + ",\"content\":\"" + hex(r.data) + "\"";
            }
            out += "}";
        }
        out += "\n]}";
    }
    out += "\n]}\n";
    std::cout << out;
    return std::cout ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() == 2 && args[0] == "write") return write_mode(args[1]);
        if (args.size() >= 2 && args[0] == "dump") return dump_mode({args.begin() + 1, args.end()});
    } catch (const std::exception& e) {
        std::cerr << "ckpt_dump: " << e.what() << "\n";
        return 1;
    }
    std::cerr << "usage: ckpt_dump write DIR | ckpt_dump dump FILE...\n";
    return 2;
}
