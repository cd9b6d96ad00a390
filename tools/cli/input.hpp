// The file a command reads, in whichever format it is: detected and opened by the library's own
// format::any (the path load_checkpoint takes), plus what the commands say about its checksums and names.
#pragma once

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mindsave/io/crypto.hpp"
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

// --dec-key / --dec-key-file / --dec-mode: MindSpore's dec_key and dec_mode for an encrypted input.
struct Decryption {
    std::string key, mode;
};
inline std::optional<Decryption> decryption_of(const ParsedArgs& args) {
    const auto key = args.value("--dec-key"), file = args.value("--dec-key-file");
    if (key && file) throw UsageError(args.command, "give --dec-key or --dec-key-file, not both");
    if (!key && !file) {
        if (args.has("--dec-mode")) throw UsageError(args.command, "--dec-mode needs --dec-key or --dec-key-file");
        return std::nullopt;
    }
    Decryption d{key.value_or(""), args.value("--dec-mode").value_or("AES-GCM")};
    if (file) {
        std::ifstream in(*file, std::ios::binary);
        if (!in) throw UsageError(args.command, "cannot read the key file '" + *file + "'");
        d.key.assign(std::istreambuf_iterator<char>(in), {});
        if (d.key.ends_with('\n'))
            throw UsageError(args.command, "the key file '" + *file + "' ends with a newline, which would be part of "
                                           "the key; write it without one (printf, not echo)");
    }
    return d;
}

class Input {
public:
    // With crc_check, the format's checksums are verified on opening: a damaged file is an error.
    Input(const fs::path& path, Detected format, bool crc_check = true)
        : file_(std::in_place, format, path, mindsave::format::any::ReadOptions{.crc_check = crc_check}) {}
    // A file MindSpore encrypted: decrypted whole, then read as the format its plaintext shows.
    Input(const fs::path& path, const Decryption& d) : plain_(mindsave::decrypt_file(path, d.key, d.mode)) {
        try {
            format_ = mindsave::format::detect(std::span(plain_).first(std::min<std::size_t>(plain_.size(), 9)), path);
            if (format_ == Detected::mindir)
                mindir_ = std::make_unique<mindsave::format::mindir::Mapped>(plain_, path);
            else if (format_ == Detected::ckpt)
                ckpt_ = std::make_unique<mindsave::format::ckpt::Contents>(mindsave::format::ckpt::parse(plain_, path));
            else
                throw mindsave::FormatError(path, "decrypted, but neither its content nor its extension says .ckpt or "
                                                  "MindIR; MindSpore encrypts only those two");
        } catch (...) {
            mindsave::detail::wipe(plain_);  // the destructor does not run for a constructor that throws
            throw;
        }
    }
    Input(const Input&) = delete;
    Input& operator=(const Input&) = delete;
    ~Input() { mindsave::detail::wipe(plain_); }

    const std::vector<RecordView>& records() const {
        if (mindir_) return mindir_->records();
        if (ckpt_) return ckpt_->records();
        return file_->records();
    }
    Detected format() const noexcept { return file_ ? file_->format() : format_; }
    bool decrypted() const noexcept { return !file_; }

    // Whether the file carries checksums: a .pth always (zip CRC-32s), a .ckpt or safetensors file when
    // written with crc_check, MindIR and ONNX never.
    bool has_crc() const {
        if (!file_) return false;  // MindSpore never adds a CRC footer to an encrypted file that still decrypts
        if (const auto* c = file_->get_if<mindsave::format::ckpt::Mapped>()) return c->contents().has_crc();
        if (const auto* s = file_->get_if<mindsave::format::safetensors::Mapped>()) return s->contents().has_crc();
        return format() == Detected::pth;
    }
    // What the checksums say, for a file opened (as by default) with its CRC checks on.
    std::string crc_text() const {
        if (decrypted()) return "decrypted; no checksums beyond the cipher's own";
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
        if (const auto* s = file_ ? file_->get_if<mindsave::format::safetensors::Mapped>() : nullptr) {
            const auto& meta = s->contents().metadata();
            return std::any_of(meta.begin(), meta.end(), [](const auto& kv) { return kv.first == "format" && kv.second == "ms"; });
        }
        if (format() == Detected::onnx)
            return std::none_of(records().begin(), records().end(),
                                [](const RecordView& r) { return r.name.ends_with(".running_mean"); });
        return format() != Detected::pth;
    }

private:
    std::optional<mindsave::format::any::Mapped> file_;  // a plain file
    std::vector<std::byte> plain_;                       // a decrypted one, and its records:
    Detected format_ = Detected::ckpt;
    std::unique_ptr<mindsave::format::ckpt::Contents> ckpt_;
    std::unique_ptr<mindsave::format::mindir::Mapped> mindir_;
};

}  // namespace mindsave::cli
