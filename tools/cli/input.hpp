// The file a command reads, in whichever format it is: detected and opened by the library's own
// format::any (the path load_checkpoint takes), plus what the commands say about its checksums and names.
#pragma once

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "mindsave/formats/any.hpp"
#include "cli.hpp"

namespace mindsave::cli {

using Detected = mindsave::format::Detected;
using mindsave::format::format_name;

// The format of path as format::detect gives it, with a note when the content contradicts the extension.
inline Detected detect_format(const fs::path& path) {
    const Detected format = mindsave::format::detect(path);
    if (const auto by_extension = mindsave::format::detect_by_extension(path); by_extension && *by_extension != format)
        std::cerr << "mindsave: note: " << path.string() << ": its content is " << format_name(format)
                  << ", not what its extension says; reading it as " << format_name(format) << "\n";
    return format;
}

class Input {
public:
    // With crc_check, the format's checksums are verified on opening: a damaged file is an error.
    Input(const fs::path& path, Detected format, bool crc_check = true)
        : file_(format, path, {.crc_check = crc_check}) {}

    const std::vector<RecordView>& records() const { return file_.records(); }
    Detected format() const noexcept { return file_.format(); }

    // Whether the file carries checksums: a .pth always (zip CRC-32s), a .ckpt or safetensors file when
    // written with crc_check, MindIR and ONNX never.
    bool has_crc() const {
        if (const auto* c = file_.get_if<mindsave::format::ckpt::Mapped>()) return c->contents().has_crc();
        if (const auto* s = file_.get_if<mindsave::format::safetensors::Mapped>()) return s->contents().has_crc();
        return format() == Detected::pth;
    }
    // What the checksums say, for a file opened (as by default) with its CRC checks on.
    std::string crc_text() const {
        switch (format()) {
            case Detected::ckpt: return has_crc() ? "crc verified" : "no crc footer";
            case Detected::safetensors: return has_crc() ? "crc_num verified" : "no crc_num";
            case Detected::pth: return "zip CRC-32s verified";
            case Detected::mindir:
            case Detected::onnx: break;
        }
        return "no checksums (the format has none)";
    }
    // A .ckpt with MindSpore's crc_num footer.
    bool has_crc_footer() const { return format() == Detected::ckpt && has_crc(); }
    // MindSpore's names: a .ckpt, a MindIR, safetensors with {"format": "ms"}, an ONNX model without
    // PyTorch's BatchNorm names (running_mean); PyTorch's otherwise.
    bool mindspore_names() const {
        if (const auto* s = file_.get_if<mindsave::format::safetensors::Mapped>()) {
            const auto& meta = s->contents().metadata();
            return std::any_of(meta.begin(), meta.end(), [](const auto& kv) { return kv.first == "format" && kv.second == "ms"; });
        }
        if (format() == Detected::onnx)
            return std::none_of(records().begin(), records().end(),
                                [](const RecordView& r) { return r.name.ends_with(".running_mean"); });
        return format() != Detected::pth;
    }

private:
    mindsave::format::any::Mapped file_;
};

}  // namespace mindsave::cli
