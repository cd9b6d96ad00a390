// format::any: reads a .ckpt, MindIR, ONNX, safetensors or torch.save file, chosen by its content (then its extension), so
// load_checkpoint takes whichever file a user has; writing needs a definite format.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/core/record_plan.hpp"
#include "mindsave/formats/ckpt.hpp"
#include "mindsave/formats/concepts.hpp"
#include "mindsave/formats/mapped.hpp"
#include "mindsave/formats/mindir.hpp"
#include "mindsave/formats/mindir_fields.hpp"
#include "mindsave/formats/onnx.hpp"
#include "mindsave/formats/onnx_fields.hpp"
#include "mindsave/formats/planned_read.hpp"
#include "mindsave/formats/pth.hpp"
#include "mindsave/formats/safetensors.hpp"
#include "mindsave/io/cipher.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/protobuf_wire.hpp"

namespace mindsave::format {

enum class Detected { ckpt, mindir, onnx, safetensors, pth };

// The name the CLI and messages use: "ckpt", "mindir", "onnx", "safetensors", "pth".
constexpr std::string_view format_name(Detected f) noexcept {
    switch (f) {
        case Detected::ckpt: return "ckpt";
        case Detected::mindir: return "mindir";
        case Detected::onnx: return "onnx";
        case Detected::safetensors: return "safetensors";
        case Detected::pth: return "pth";
    }
    return "?";
}

// What a file's first bytes say for sure, or nothing: ONNX begins with ir_version (field 1, varint), MindIR
// with ir_version as a string of digits ("0.1.1"), a torch.save file with a zip
// header (or, legacy, a pickle protocol byte: its reader explains), safetensors with a little-endian
// header size and then '{'. A .ckpt has no magic of its own, and MindSpore's cipher blocks are the same for
// .ckpt and MindIR: for those the extension decides (and the reader says the file is encrypted).
inline std::optional<Detected> detect_by_content(std::span<const std::byte> first_bytes) {
    std::byte head[9]{};
    const std::size_t n = std::min<std::size_t>(first_bytes.size(), 9);
    std::copy_n(first_bytes.begin(), n, head);
    const auto at = [&](std::size_t i) { return i < n ? static_cast<unsigned>(head[i]) : 0u; };
    if (at(0) == 'P' && at(1) == 'K' && (at(2) == 3 || at(2) == 5)) return Detected::pth;
    if (n == 9 && at(8) == '{' && at(7) == 0 && at(6) == 0 && at(5) == 0) return Detected::safetensors;
    if (at(0) == 0x80 && n > 1 && at(1) <= 5) return Detected::pth;
    constexpr auto onnx_first = io::field_key(proto::onnx::ModelProto::ir_version, io::WireType::varint);
    constexpr auto mindir_first = io::field_key(proto::mindir::ModelProto::ir_version, io::WireType::length_delimited);
    if (at(0) == onnx_first) return Detected::onnx;
    if (mindsave::detail::cipher_magic(first_bytes)) return std::nullopt;  // encrypted: .ckpt and MindIR look alike
    if (at(0) == mindir_first && at(1) > 0 && at(1) < 0x80 && at(2) >= '0' && at(2) <= '9') return Detected::mindir;
    return std::nullopt;
}

// What a file's extension says: .ckpt, .mindir, .onnx, .safetensors, .pth or .pt; else nothing.
inline std::optional<Detected> detect_by_extension(const std::filesystem::path& path) {
    const auto ext = path.extension();
    if (ext == ckpt::extension) return Detected::ckpt;
    if (ext == mindir::extension) return Detected::mindir;
    if (ext == onnx::extension) return Detected::onnx;
    if (ext == safetensors::extension) return Detected::safetensors;
    if (ext == pth::extension || ext == pth::other_extension) return Detected::pth;
    return std::nullopt;
}

// A file's format: its content where that is certain, else its extension, else .ckpt.
// The head is read with pread, not a map: mapping, faulting and unmapping a file (a TLB shootdown
// when the process has other threads) costs more than reading a small checkpoint whole.
inline Detected detect(std::span<const std::byte> first_bytes, const std::filesystem::path& path) {
    if (const auto by_content = detect_by_content(first_bytes)) return *by_content;
    return detect_by_extension(path).value_or(Detected::ckpt);
}
// The same for a file open on fd, from its first bytes read with pread.
inline Detected detect(int fd, const std::filesystem::path& path) {
    std::byte head[9]{};
    return detect(std::span(head, io::detail::read_at(fd, head, 0, path)), path);
}
inline Detected detect(const std::filesystem::path& path) {
    struct stat st {};
    return detect(io::detail::open_for_reading(path, st).get(), path);
}

struct AnyReadOptions {
    bool crc_check = false;  // .ckpt footer, safetensors "crc_num", .pth zip CRC-32s; MindIR and ONNX carry none
};

struct any {
    using ReadOptions = AnyReadOptions;

    class Mapped {
    public:
        explicit Mapped(const std::filesystem::path& path, const ReadOptions& options = {})
            : Mapped(detect(path), path, options) {}
        Mapped(Detected format, const std::filesystem::path& path, const ReadOptions& options) : format_(format) {
            switch (format) {
                case Detected::onnx: file_.emplace<onnx::Mapped>(path); break;
                case Detected::mindir: file_.emplace<mindir::Mapped>(path); break;
                case Detected::ckpt: file_.emplace<ckpt::Mapped>(path, ckpt::ReadOptions{options.crc_check}); break;
                case Detected::safetensors: file_.emplace<safetensors::Mapped>(path, safetensors::ReadOptions{options.crc_check}); break;
                case Detected::pth: file_.emplace<pth::Mapped>(path, pth::ReadOptions{options.crc_check}); break;
            }
        }
        const std::vector<RecordView>& records() const {
            return std::visit([](const auto& f) -> const std::vector<RecordView>& {
                if constexpr (requires { f.records(); }) return f.records();
                else throw Error("format::any: no file");  // unreachable: the constructor always opens one
            }, file_);
        }
        Detected format() const noexcept { return format_; }
        // The open file as its own format's Mapped (ckpt::Mapped, ...), or nullptr if it is another format.
        template <class FormatMapped>
        const FormatMapped* get_if() const noexcept { return std::get_if<FormatMapped>(&file_); }

    private:
        Detected format_;
        std::variant<std::monostate, ckpt::Mapped, mindir::Mapped, onnx::Mapped, safetensors::Mapped, pth::Mapped> file_;
    };

    // A file planned for a load into a network: a .ckpt's or a safetensors file's headers read, then its
    // tensors read straight into the parameters; another format's records copied from its mapping.
    class Plan {
    public:
        explicit Plan(const std::filesystem::path& path, const ReadOptions& options = {}) {
            struct stat st {};
            auto fd = io::detail::open_for_reading(path, st);
            const auto size = static_cast<std::size_t>(st.st_size);
            std::byte head[ckpt::Plan::plan_window];  // a .ckpt plan's first window, and the format's magic
            const std::span<const std::byte> first(head, io::detail::read_at(fd.get(), std::span(head, std::min(size, sizeof head)), 0, path));
            const Detected format = detect(first, path);
            switch (format) {
                case Detected::ckpt:
                    plan_.emplace<ckpt::Plan>(std::move(fd), size, first, path, ckpt::ReadOptions{options.crc_check});
                    break;
                case Detected::safetensors:
                    plan_.emplace<safetensors::Plan>(path, safetensors::ReadOptions{options.crc_check});
                    break;
                default: plan_.emplace<detail::MappedPlan<any>>(Mapped(format, path, options));  // detected once
            }
        }
        const std::vector<RecordHeader>& headers() const noexcept {
            static const std::vector<RecordHeader> none;
            return std::visit([](const auto& p) -> const std::vector<RecordHeader>& {
                if constexpr (requires { p.headers(); }) return p.headers();
                else return none;  // unreachable: the constructor always makes a plan
            }, plan_);
        }
        void read(std::span<const ReadJob> jobs) const {
            std::visit([&](const auto& p) {
                if constexpr (requires { p.read(jobs); }) p.read(jobs);
            }, plan_);
        }

    private:
        std::variant<std::monostate, ckpt::Plan, safetensors::Plan, detail::MappedPlan<any>> plan_;
    };

    // A decrypted file's records: MindIR when its bytes say so, else what the extension says, else .ckpt.
    static std::vector<TensorRecord> from_plaintext(std::span<const std::byte> plain, const std::filesystem::path& path,
                                                    const ReadOptions& options = {}) {
        const Detected d = detect(plain.first(std::min<std::size_t>(plain.size(), 9)), path);
        if (d == Detected::mindir) return mindir::from_plaintext(plain, path);
        if (d == Detected::ckpt) return ckpt::from_plaintext(plain, path, ckpt::ReadOptions{options.crc_check});
        throw FormatError(path, "decrypted, but neither its content nor its extension says .ckpt or MindIR (the "
                                "extension says " + std::string(format_name(d)) + "); MindSpore encrypts only those two");
    }

    static std::vector<TensorRecord> read(const std::filesystem::path& path, const ReadOptions& options = {}) {
        return read_if(path, options, [](std::string_view) { return true; });
    }

    // The records keep(name) accepts, copied, in file order: load_checkpoint's read. A large file goes
    // through its Plan into one arena (planned_read.hpp); a smaller .ckpt is read by ckpt's streaming read,
    // its first read also giving the format.
    template <class Keep>
    static std::vector<TensorRecord> read_if(const std::filesystem::path& path, const ReadOptions& options, Keep&& keep) {
        struct stat st {};
        const auto fd = io::detail::open_for_reading(path, st);
        const auto size = static_cast<std::size_t>(st.st_size);
        if (!options.crc_check && size >= detail::planned_read_min_bytes)
            return detail::read_planned(Plan(path, options), keep);  // into one arena, on every thread
        Detected format;
        if (size <= ckpt::stream_max_bytes) {
            const detail::FileSource source{fd.get(), path};
            detail::CkptFileReader<detail::FileSource> reader(source, size, path);
            format = detect(reader.head(), path);
            if (format == Detected::ckpt) return detail::keep_only(reader.read(options.crc_check), keep);
        } else {
            format = detect(fd.get(), path);
        }
        return copy_records(Mapped(format, path, options).records(), keep);
    }
};

static_assert(MappedFormat<any>);

}  // namespace mindsave::format
