// mindsave: the command-line program over the headers: inspect, verify, diff and edit MindSpore
// .ckpt files, and convert among .ckpt, safetensors and PyTorch .pth. Results go to stdout, errors
// to stderr; exit 0 ok, 1 negative result, 2 error.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <iostream>
#include <limits>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "mindsave/checkpoint/load.hpp"
#include "mindsave/checkpoint/rename.hpp"
#include "mindsave/checkpoint/save.hpp"
#include "mindsave/core/dtype.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/parameter_dict.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/core/utf8.hpp"
#include "mindsave/formats/ckpt.hpp"
#include "mindsave/formats/pth.hpp"
#include "mindsave/formats/safetensors.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/models/torchvision.hpp"

namespace {

namespace fs = std::filesystem;
using mindsave::DType;
using mindsave::RecordView;
using ckpt = mindsave::format::ckpt;

// Exit statuses as cmp(1) and diff(1) use them.
constexpr int exit_ok = 0;
constexpr int exit_negative = 1;  // verify failed, diff found differences
constexpr int exit_error = 2;     // usage error, unreadable or corrupt input

// A mistake on the command line; main adds a pointer to the command's --help.
class UsageError : public std::runtime_error {
public:
    UsageError(std::string command, const std::string& what)
        : std::runtime_error(what), command_(std::move(command)) {}
    const std::string& command() const noexcept { return command_; }

private:
    std::string command_;
};

// ---------------------------------------------------------------------------------------------
// Help texts

constexpr std::string_view main_help = R"(usage: mindsave <command> [arguments]

Inspect, check, compare and edit MindSpore checkpoint (.ckpt) files; convert among
.ckpt, safetensors and PyTorch .pth files. inspect, verify and diff read all three
(told apart by content, else by extension).

commands:
  inspect FILE [--json]     list the records: name, dtype, shape, bytes, min/max/mean
  verify FILE               check the framing and, when present, the CRC-32s
  diff A B                  compare the records of two checkpoints value by value
  edit IN OUT [options]     drop or rename records and save the result as a new checkpoint
  convert IN OUT [options]  convert between .ckpt, .safetensors and .pth/.pt, renaming for the target
  help [COMMAND]            show this help, or a command's

exit status: 0 success; 1 negative result (verify failed, diff found differences);
2 usage error, or a file that cannot be read or parsed.
Run 'mindsave COMMAND --help' for a command's arguments.
)";

constexpr std::string_view inspect_help = R"(usage: mindsave inspect FILE [--json]

Prints one line per record: name, dtype (or 'str' for a string value), shape, bytes, and
min/max/mean of the values (NaNs are left out and counted), the value itself for a
one-element tensor, the text for a string; then a summary line (records, bytes, CRC footer).
A safetensors or .pth file is read with its CRCs checked (crc_num, zip entries): damage is an error.

options:
  --json    print one JSON document instead: {"file", "format", "file_bytes", "tensor_bytes", "crc",
            "crc_ok", "records": [{"name", "dtype", "shape", "elements", "bytes", "min", "max",
            "mean", "nan_count", "value" (one element), "text" (str)}]}; non-finite numbers are null
)";

constexpr std::string_view verify_help = R"(usage: mindsave verify FILE

Parses every record of FILE (lengths, field layout, dtypes, shape against byte count) and,
when the file ends in MindSpore's 'crc_num' footer (crc_check=True, MindSpore >= 2.3), checks
the CRC-32 of the records against it. Prints 'ok: N records, crc verified' or
'ok: N records, no crc footer'. Without a footer, damage inside tensor values cannot be seen:
save with 'mindsave edit IN OUT --crc' to add one. A safetensors file is checked against
its "crc_num" metadata when it has one, a .pth against every zip entry's CRC-32
('ok: N records, pth, zip CRC-32s verified').

exit status: 0 ok; 1 the file is damaged (the error names the file and the record);
2 the file cannot be read.
)";

constexpr std::string_view diff_help = R"(usage: mindsave diff A B

Compares the records two checkpoints share by name: 'identical' when bit-equal, else the
largest absolute difference |a-b| and relative difference |a-b| / max(|a|,|b|) (0 when both
are 0), and how many elements differ. Lists names only in A or only in B, dtype and shape
mismatches, and a different record order. The framing (CRC footer, the MindSpore writer
generation) is noted but not counted: compare bytes with cmp(1).

exit status: 0 the records are bit-identical; 1 they differ; 2 a file cannot be read.
)";

constexpr std::string_view edit_help = R"(usage: mindsave edit IN OUT [options]

Loads IN, drops and renames records, and saves OUT atomically (written beside it, then
renamed into place, so OUT may be IN itself). Names refer to IN; renames apply together
(so A=B B=A swaps). '.ckpt' is appended to OUT when missing, as MindSpore does.

options:
  --drop NAME            leave out the record NAME (repeatable)
  --drop-prefix P        leave out every record whose name starts with P (repeatable)
  --keep-prefix P        keep only records whose name starts with one of the Ps (repeatable)
  --rename OLD=NEW       save OLD under the name NEW (repeatable); NEW must not be taken
  --writer 2.2|2.3       which MindSpore generation's bytes to write (default 2.3): 2.2 writes
                         scalars as dims [0], readable by every MindSpore; any version number
                         is accepted (<= 2.2 or >= 2.3)
  --crc                  append the CRC-32 footer (crc_check=True; needs the 2.3 writer)

A name or prefix that matches nothing in IN is an error, as is a rename onto a name that stays.
)";

constexpr std::string_view convert_help = R"(usage: mindsave convert IN OUT [options]

Converts a checkpoint between MindSpore's .ckpt, safetensors (as MindSpore >= 2.4 writes it:
metadata {"format": "ms"}) and PyTorch's torch.save files (.pth or .pt, a state dict).
The format comes from the extension: .ckpt, .safetensors, .pth, .pt; an input with another
extension (.bin, none) is recognised by its content, as is one whose content contradicts its
extension. OUT is written atomically (beside it, then renamed into place) and may be IN.
The input is read without running any code: a .pth may only hold tensors, numbers and
strings in (nested) dicts; nested keys are joined with '.', Python numbers become 0-d
tensors (int: Int64, float: Float64, bool: Bool), str values stay strings (not in safetensors).

Names follow the target's convention. PyTorch -> MindSpore (.pth, or a safetensors file
without {"format": "ms"}, to .ckpt or .safetensors): for every BatchNorm (a name P.running_mean
exists) P.weight, P.bias, P.running_mean, P.running_var become P.gamma, P.beta, P.moving_mean,
P.moving_variance and P.num_batches_tracked is dropped. MindSpore -> PyTorch: the reverse,
adding P.num_batches_tracked = 0 (what torch's BatchNorm assumes when it is missing).

options:
  --map FILE      rename with FILE first (names as they are in IN), one rule per line:
                    OLD NEW          rename the name OLD to NEW
                    OLD* NEW*        rename every name starting with OLD: that prefix becomes NEW
                    a*.b*.w x*.y*.w  each '*' matches any text (the shortest that fits); NEW's
                                     k-th '*' takes what OLD's k-th matched (at most 4 per rule)
                    OLD -            drop OLD ('OLD* -' drops a prefix)
                  '#' starts a comment; an exact rule beats a pattern, the pattern with the most
                  literal characters beats the others; rules that match nothing are reported on stderr
  --map builtin:torchvision-resnet50
                  a compiled-in map, checked complete at compile time: a torchvision resnet50
                  state dict to mindvision's ResNet50 names (BatchNorm fields included), written
                  in the order MindSpore saves that network
  --keep-names    no BatchNorm renaming (the map still applies)
  --crc           write MindSpore's CRC-32 (a .ckpt footer, safetensors "crc_num"); a .pth
                  always carries a CRC-32 per zip entry

Two names may not end up the same. Prints one summary line; exit status 0, or 2 on an error.
)";

// ---------------------------------------------------------------------------------------------
// Command-line parsing

struct OptionSpec {
    std::string_view name;
    bool takes_value;
};

struct ParsedArgs {
    std::string command;
    std::vector<std::string> positional;
    std::vector<std::pair<std::string, std::string>> options;  // in command-line order
    bool help = false;

    bool has(std::string_view name) const {
        return std::any_of(options.begin(), options.end(), [&](const auto& o) { return o.first == name; });
    }
    std::vector<std::string> values(std::string_view name) const {
        std::vector<std::string> out;
        for (const auto& [n, v] : options)
            if (n == name) out.push_back(v);
        return out;
    }
    // The last value given, as later options override earlier ones.
    std::optional<std::string> value(std::string_view name) const {
        auto all = values(name);
        if (all.empty()) return std::nullopt;
        return all.back();
    }

    // Checks the count of positional arguments; names holds their names for the message.
    void expect_positional(std::span<const std::string_view> names) const {
        if (positional.size() < names.size())
            throw UsageError(command, "'" + command + "' needs " + std::string(names[positional.size()]));
        if (positional.size() > names.size())
            throw UsageError(command, "unexpected argument '" + positional[names.size()] + "' for '" + command + "'");
    }
};

// Options may stand anywhere after the command, as --name VALUE or --name=VALUE; "--" ends them.
ParsedArgs parse_args(std::string command, std::span<char* const> args, std::span<const OptionSpec> specs) {
    ParsedArgs out;
    out.command = std::move(command);
    bool options_ended = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        if (options_ended || arg.size() < 2 || arg[0] != '-') {
            out.positional.emplace_back(arg);
            continue;
        }
        if (arg == "--") {
            options_ended = true;
            continue;
        }
        if (arg == "--help" || arg == "-h") {
            out.help = true;
            continue;
        }
        const auto eq = arg.find('=');
        const std::string name(arg.substr(0, eq));
        const auto spec = std::find_if(specs.begin(), specs.end(), [&](const OptionSpec& s) { return s.name == name; });
        if (spec == specs.end())
            throw UsageError(out.command, "unknown option '" + name + "' for '" + out.command + "'");
        if (!spec->takes_value) {
            if (eq != std::string_view::npos) throw UsageError(out.command, "option '" + name + "' takes no value");
            out.options.emplace_back(name, "");
        } else if (eq != std::string_view::npos) {
            out.options.emplace_back(name, std::string(arg.substr(eq + 1)));
        } else {
            if (i + 1 >= args.size()) throw UsageError(out.command, "option '" + name + "' needs a value");
            out.options.emplace_back(name, std::string(args[++i]));
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Text: numbers, escaping

// The shortest text that reads back to the same value at the dtype's precision.
std::string number_text(double v, DType t) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    const bool single = t == DType::Float32 || t == DType::Float16 || t == DType::BFloat16;
    const auto r = single ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                          : std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

// A difference, to six significant digits (more would be noise).
std::string diff_text(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return "inf";
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
    return std::string(buf, r.ptr);
}

std::string json_number(double v, DType t) { return std::isfinite(v) ? number_text(v, t) : "null"; }

enum class Escape { terminal, quoted, json };

// Names and texts come from files: control characters and invalid UTF-8 are escaped so the
// output stays one line per record and valid JSON. quoted/json also escape '"' and '\'.
std::string escaped(std::string_view s, Escape mode) {
    std::string out;
    out.reserve(s.size());
    auto hex = [&](unsigned v, int digits) {
        constexpr char d[] = "0123456789abcdef";
        for (int k = digits - 1; k >= 0; --k) out += d[(v >> (4 * k)) & 0xf];
    };
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t len = mindsave::detail::utf8_length_at(s, i);
        if (len == 0) {  // a byte that is not UTF-8
            if (mode == Escape::json) out += "\\ufffd";
            else out += "\\x", hex(c, 2);
            ++i;
            continue;
        }
        if (len > 1) {
            out.append(s.substr(i, len));
            i += len;
            continue;
        }
        ++i;
        if (mode != Escape::terminal && (c == '"' || c == '\\')) out += '\\', out += static_cast<char>(c);
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else if (c < 0x20 || c == 0x7f) {
            if (mode == Escape::json) out += "\\u", hex(c, 4);
            else out += "\\x", hex(c, 2);
        } else out += static_cast<char>(c);
    }
    return out;
}

std::string json_string(std::string_view s) { return '"' + escaped(s, Escape::json) + '"'; }

// A long text shortened at a character boundary for one-line output.
std::string shortened(const std::string& text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return text;
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
    return text.substr(0, cut) + "...";
}

std::string json_shape(const mindsave::Shape& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

std::string type_name(const RecordView& r) { return r.is_string ? "str" : std::string(mindsave::dtype_name(r.dtype)); }

std::string text_of(const RecordView& r) { return mindsave::detail::utf32le_to_utf8(r.data); }

// ---------------------------------------------------------------------------------------------
// Values

// Element i as double. Tensor bytes sit at any offset in a file, so they are copied, not cast;
// a Bool byte other than 0 counts as true.
template <class T>
double element_at(const std::byte* base, std::size_t i) {
    if constexpr (std::is_same_v<T, bool>) {
        return base[i] != std::byte{0} ? 1.0 : 0.0;
    } else {
        T v;
        std::memcpy(&v, base + i * sizeof(T), sizeof(T));
        return mindsave::to_double(v);
    }
}

std::size_t elements_of(const RecordView& r) { return r.data.size() / mindsave::dtype_size(r.dtype); }

struct Stats {
    std::size_t elements = 0;
    std::size_t nan_count = 0;
    // Over the elements that are not NaN; NaN when there are none.
    double min = std::numeric_limits<double>::quiet_NaN();
    double max = std::numeric_limits<double>::quiet_NaN();
    double mean = std::numeric_limits<double>::quiet_NaN();
};

Stats statistics(const RecordView& r) {
    Stats s;
    s.elements = elements_of(r);
    mindsave::visit_dtype(r.dtype, [&](auto tag) {
        using T = decltype(tag);
        double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
        std::size_t n = 0;
        for (std::size_t i = 0; i < s.elements; ++i) {
            const double v = element_at<T>(r.data.data(), i);
            if (std::isnan(v)) {
                ++s.nan_count;
                continue;
            }
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            sum += v;
            ++n;
        }
        if (n > 0) s.min = lo, s.max = hi, s.mean = sum / static_cast<double>(n);
    });
    return s;
}

// The value of a one-element tensor, exactly (integers are not routed through double).
std::string exact_value(const RecordView& r, bool json) {
    return mindsave::visit_dtype(r.dtype, [&](auto tag) -> std::string {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>) {
            return r.data[0] != std::byte{0} ? "true" : "false";
        } else if constexpr (std::is_integral_v<T>) {
            T v;
            std::memcpy(&v, r.data.data(), sizeof(T));
            return std::to_string(v);
        } else {
            const double v = element_at<T>(r.data.data(), 0);
            return json ? json_number(v, r.dtype) : number_text(v, r.dtype);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// formats: .ckpt, safetensors and torch.save files, told apart by content

enum class FileFormat { ckpt, safetensors, pth };

std::string_view format_name(FileFormat f) {
    switch (f) {
        case FileFormat::ckpt: return "ckpt";
        case FileFormat::safetensors: return "safetensors";
        case FileFormat::pth: return "pth";
    }
    return "?";
}

std::optional<FileFormat> format_of_extension(const fs::path& p) {
    const auto ext = p.extension();
    if (ext == ".ckpt") return FileFormat::ckpt;
    if (ext == ".safetensors") return FileFormat::safetensors;
    if (ext == ".pth" || ext == ".pt") return FileFormat::pth;
    return std::nullopt;
}

// What the first bytes say for sure: a ZIP (or a legacy pickle) is torch.save's, an 8-byte length
// followed by '{' within the file is safetensors. A .ckpt has no magic, so it is never sniffed.
std::optional<FileFormat> format_of_content(std::span<const std::byte> b) {
    auto at = [&](std::size_t i) { return i < b.size() ? static_cast<unsigned>(b[i]) : 256u; };
    if (at(0) == 'P' && at(1) == 'K' && (at(2) == 3 || at(2) == 5)) return FileFormat::pth;
    if (at(0) == 0x80 && at(1) <= 5) return FileFormat::pth;  // legacy torch.save: the reader explains
    if (b.size() >= 10 && at(8) == '{') {
        std::uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | at(static_cast<std::size_t>(i));
        if (n <= b.size() - 8) return FileFormat::safetensors;
    }
    return std::nullopt;
}

// The input, opened through a memory map in whichever format it is.
class AnyInput {
public:
    AnyInput(const fs::path& path, FileFormat f, bool crc_check = true) {
        switch (f) {
            case FileFormat::ckpt: file_.emplace<ckpt::Mapped>(path, ckpt::ReadOptions{.crc_check = crc_check}); break;
            case FileFormat::safetensors:
                file_.emplace<mindsave::format::safetensors::Mapped>(path, mindsave::format::safetensors::ReadOptions{.crc_check = crc_check});
                break;
            case FileFormat::pth:
                file_.emplace<mindsave::format::pth::Mapped>(path, mindsave::format::pth::ReadOptions{.crc_check = crc_check});
                break;
        }
    }
    const std::vector<RecordView>& records() const {
        return std::visit([](const auto& f) -> const std::vector<RecordView>& {
            if constexpr (requires { f.records(); }) return f.records();
            else throw mindsave::Error("convert: no input");  // unreachable: the constructor opens one
        }, file_);
    }
    // Whether the file carries CRC-32s (checked when opened so): a .pth always, the others when written so.
    bool has_crc() const {
        if (const auto* s = std::get_if<mindsave::format::safetensors::Mapped>(&file_)) return s->contents().has_crc();
        if (std::holds_alternative<mindsave::format::pth::Mapped>(file_)) return true;
        return std::get<ckpt::Mapped>(file_).contents().has_crc();
    }
    // What the format's checksums say, for a file opened (as here) with its CRC checks on.
    std::string crc_text() const {
        if (std::holds_alternative<mindsave::format::safetensors::Mapped>(file_)) return has_crc() ? "crc_num verified" : "no crc_num";
        if (std::holds_alternative<mindsave::format::pth::Mapped>(file_)) return "zip CRC-32s verified";
        return has_crc() ? "crc verified" : "no crc footer";
    }
    // A .ckpt with MindSpore's crc_num footer.
    bool has_crc_footer() const { return std::holds_alternative<ckpt::Mapped>(file_) && has_crc(); }
    // MindSpore's names: a .ckpt, or safetensors with {"format": "ms"}; PyTorch's otherwise.
    bool mindspore_names() const {
        if (std::holds_alternative<ckpt::Mapped>(file_)) return true;
        if (const auto* s = std::get_if<mindsave::format::safetensors::Mapped>(&file_)) {
            const auto& meta = s->contents().metadata();
            return std::any_of(meta.begin(), meta.end(), [](const auto& kv) { return kv.first == "format" && kv.second == "ms"; });
        }
        return false;
    }

private:
    std::variant<std::monostate, ckpt::Mapped, mindsave::format::safetensors::Mapped, mindsave::format::pth::Mapped> file_;
};

// The format of path: by content where it is certain (see format_of_content), else by extension,
// else .ckpt (the one format without magic).
FileFormat detect_format(const fs::path& path) {
    const mindsave::io::MappedFile probe(path);
    const auto by_content = format_of_content(probe.bytes());
    const auto by_extension = format_of_extension(path);
    if (by_content && by_extension && *by_content != *by_extension)
        std::cerr << "mindsave: note: " << path.string() << " holds a " << format_name(*by_content)
                  << " file despite its extension; reading it as one\n";
    return by_content ? *by_content : by_extension.value_or(FileFormat::ckpt);
}

// ---------------------------------------------------------------------------------------------
// inspect

std::string crc_summary(bool has_crc, std::optional<bool> crc_ok) {
    if (!has_crc) return "no CRC footer";
    return *crc_ok ? "CRC footer matches" : "CRC footer MISMATCH (the file is damaged; see mindsave verify)";
}

// How inspect describes a file's checksums.
struct CrcState {
    bool present = false;
    std::optional<bool> ok;  // nullopt: not checked
    std::string summary;
};

int print_inspection(const ParsedArgs& args, const fs::path& path, FileFormat format, std::size_t file_bytes,
                     const std::vector<RecordView>& records, const CrcState& crc);

int run_inspect(const ParsedArgs& args) {
    constexpr std::string_view names[] = {"FILE"};
    args.expect_positional(names);
    const fs::path path = args.positional[0];
    if (const FileFormat format = detect_format(path); format != FileFormat::ckpt) {
        const AnyInput input(path, format);  // checks the format's CRCs: a damaged file is an error
        const bool present = input.has_crc();
        return print_inspection(args, path, format, fs::file_size(path), input.records(),
                                {present, present ? std::optional<bool>(true) : std::nullopt, input.crc_text()});
    }
    const mindsave::io::MappedFile file(path);
    const auto contents = ckpt::parse(file.bytes(), path);
    std::optional<bool> crc_ok;
    if (contents.has_crc()) {  // as verify: the 10-byte big-endian footer value must fit 32 bits and match
        const auto bytes = file.bytes();
        const auto high = bytes.subspan(bytes.size() - 10, 6);
        crc_ok = std::all_of(high.begin(), high.end(), [](std::byte b) { return b == std::byte{0}; }) &&
                 mindsave::io::crc32(bytes.first(bytes.size() - 17)) == contents.stored_crc();
    }
    return print_inspection(args, path, FileFormat::ckpt, file.bytes().size(), contents.records(),
                            {contents.has_crc(), crc_ok, crc_summary(contents.has_crc(), crc_ok)});
}

int print_inspection(const ParsedArgs& args, const fs::path& path, FileFormat format, std::size_t file_bytes,
                     const std::vector<RecordView>& records, const CrcState& crc) {
    std::size_t tensor_bytes = 0;
    for (const auto& r : records) tensor_bytes += r.data.size();

    if (args.has("--json")) {
        std::string out = "{\n  \"file\": " + json_string(path.string()) +
                          ",\n  \"format\": " + json_string(std::string(format_name(format))) +
                          ",\n  \"file_bytes\": " + std::to_string(file_bytes) +
                          ",\n  \"tensor_bytes\": " + std::to_string(tensor_bytes) +
                          ",\n  \"crc\": " + (crc.present ? "true" : "false") +
                          ",\n  \"crc_ok\": " + (crc.ok ? (*crc.ok ? "true" : "false") : "null") +
                          ",\n  \"records\": [";
        for (std::size_t i = 0; i < records.size(); ++i) {
            const auto& r = records[i];
            out += i ? ",\n    {" : "\n    {";
            out += "\"name\": " + json_string(r.name) + ", \"dtype\": " + json_string(type_name(r)) +
                   ", \"shape\": " + json_shape(r.shape);
            if (r.is_string) {
                out += ", \"bytes\": " + std::to_string(r.data.size()) + ", \"text\": " + json_string(text_of(r)) + "}";
                continue;
            }
            const Stats s = statistics(r);
            out += ", \"elements\": " + std::to_string(s.elements) + ", \"bytes\": " + std::to_string(r.data.size()) +
                   ", \"min\": " + json_number(s.min, r.dtype) + ", \"max\": " + json_number(s.max, r.dtype) +
                   ", \"mean\": " + json_number(s.mean, r.dtype) + ", \"nan_count\": " + std::to_string(s.nan_count);
            if (s.elements == 1) out += ", \"value\": " + exact_value(r, true);
            out += "}";
        }
        out += records.empty() ? "]\n}\n" : "\n  ]\n}\n";
        std::cout << out;
        return exit_ok;
    }

    struct Row {
        std::string name, type, shape, bytes, detail;
    };
    std::vector<Row> rows;
    std::size_t name_w = 0, type_w = 0, shape_w = 0, bytes_w = 0;
    for (const auto& r : records) {
        Row row{escaped(r.name, Escape::terminal), type_name(r), mindsave::shape_string(r.shape),
                std::to_string(r.data.size()), {}};
        if (r.is_string) {
            row.detail = "text=\"" + escaped(shortened(text_of(r), 200), Escape::quoted) + "\"";
        } else if (const Stats s = statistics(r); s.elements == 0) {
            row.detail = "empty";
        } else if (s.elements == 1) {
            row.detail = "value=" + exact_value(r, false);
        } else {
            row.detail = "min=" + number_text(s.min, r.dtype) + " max=" + number_text(s.max, r.dtype) +
                         " mean=" + number_text(s.mean, r.dtype);
            if (s.nan_count) row.detail += " nan=" + std::to_string(s.nan_count);
        }
        name_w = std::max(name_w, row.name.size());
        type_w = std::max(type_w, row.type.size());
        shape_w = std::max(shape_w, row.shape.size());
        bytes_w = std::max(bytes_w, row.bytes.size());
        rows.push_back(std::move(row));
    }
    auto pad = [](const std::string& s, std::size_t w) { return s + std::string(w > s.size() ? w - s.size() : 0, ' '); };
    std::string out;
    for (const auto& row : rows)
        out += pad(row.name, name_w) + "  " + pad(row.type, type_w) + "  " + pad(row.shape, shape_w) + "  " +
               std::string(bytes_w - row.bytes.size(), ' ') + row.bytes + "  " + row.detail + "\n";
    out += std::to_string(records.size()) + (records.size() == 1 ? " record, " : " records, ") +
           std::to_string(tensor_bytes) + " bytes of values, file " + std::to_string(file_bytes) + " bytes, " +
           (format == FileFormat::ckpt ? "" : std::string(format_name(format)) + ", ") + crc.summary + "\n";
    std::cout << out;
    return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// verify

int run_verify(const ParsedArgs& args) {
    constexpr std::string_view names[] = {"FILE"};
    args.expect_positional(names);
    const fs::path path = args.positional[0];
    const FileFormat format = detect_format(path);  // unreadable: exit 2 from main
    try {
        const AnyInput input(path, format);
        const auto& records = input.records();
        if (records.empty()) {
            std::cerr << "mindsave: " << path.string()
                      << ": holds no records (MindSpore's load_checkpoint rejects an empty checkpoint)\n";
            return exit_negative;
        }
        // A name that reappears later overwrites the earlier value in every loader: legal, but worth saying.
        std::unordered_map<std::string_view, std::size_t> seen;
        for (const auto& r : records)
            if (++seen[r.name] == 2)
                std::cerr << "mindsave: warning: " << path.string() << ": record '" << escaped(r.name, Escape::terminal)
                          << "' appears more than once; loaders keep the last\n";
        std::cout << "ok: " << records.size() << (records.size() == 1 ? " record, " : " records, ")
                  << (format == FileFormat::ckpt ? "" : std::string(format_name(format)) + ", ") << input.crc_text() << "\n";
        return exit_ok;
    } catch (const mindsave::Error& e) {
        std::cerr << "mindsave: " << e.what() << "\n";
        return exit_negative;
    }
}

// ---------------------------------------------------------------------------------------------
// diff

enum class Outcome { identical, different, mismatched };

bool same_bytes(const RecordView& x, const RecordView& y) {
    return x.data.size() == y.data.size() &&
           (x.data.empty() || std::memcmp(x.data.data(), y.data.data(), x.data.size()) == 0);
}

bool same_content(const RecordView& x, const RecordView& y) {
    return x.is_string == y.is_string && (x.is_string || (x.dtype == y.dtype && x.shape == y.shape)) &&
           same_bytes(x, y);
}

struct DiffStats {
    double max_abs = 0, max_rel = 0;
    std::size_t differing = 0;     // elements whose values differ (NaN equals NaN)
    std::size_t nan_one_side = 0;  // elements NaN in one file only
};

// Element-wise comparison of two tensors of one shape, possibly of different dtypes.
DiffStats numeric_diff(const RecordView& x, const RecordView& y) {
    DiffStats d;
    const std::size_t n = elements_of(x);
    mindsave::visit_dtype(x.dtype, [&](auto xtag) {
        mindsave::visit_dtype(y.dtype, [&](auto ytag) {
            using X = decltype(xtag);
            using Y = decltype(ytag);
            for (std::size_t i = 0; i < n; ++i) {
                const double a = element_at<X>(x.data.data(), i), b = element_at<Y>(y.data.data(), i);
                const bool na = std::isnan(a), nb = std::isnan(b);
                if (na && nb) continue;
                ++d.differing;
                if (na || nb) {
                    ++d.nan_one_side;
                    continue;
                }
                if (a == b) {  // covers inf == inf and -0 == 0
                    --d.differing;
                    continue;
                }
                double abs = std::fabs(a - b), rel = abs / std::max(std::fabs(a), std::fabs(b));
                if (std::isinf(a) || std::isinf(b))  // the limits of the formula
                    abs = std::numeric_limits<double>::infinity(), rel = std::isinf(a) && std::isinf(b) ? 2.0 : 1.0;
                d.max_abs = std::max(d.max_abs, abs);
                d.max_rel = std::max(d.max_rel, rel);
            }
        });
    });
    return d;
}

std::string describe(const DiffStats& d, std::size_t elements) {
    if (d.differing == 0) return "values equal, bits differ (signed zeros or NaN payloads)";
    std::string s = "max abs diff " + diff_text(d.max_abs) + ", max rel diff " + diff_text(d.max_rel) + " (" +
                    std::to_string(d.differing) + " of " + std::to_string(elements) +
                    (elements == 1 ? " element differs" : " elements differ");
    if (d.nan_one_side) s += ", " + std::to_string(d.nan_one_side) + " NaN on one side only";
    return s + ")";
}

Outcome compare(const RecordView& x, const RecordView& y, std::string& line) {
    if (x.is_string || y.is_string) {
        if (x.is_string != y.is_string) {
            line = "type mismatch: " + type_name(x) + " in A, " + type_name(y) + " in B";
            return Outcome::mismatched;
        }
        if (same_bytes(x, y)) {
            line = "identical";
            return Outcome::identical;
        }
        line = "text differs: \"" + escaped(shortened(text_of(x), 60), Escape::quoted) + "\" in A, \"" +
               escaped(shortened(text_of(y), 60), Escape::quoted) + "\" in B";
        return Outcome::different;
    }
    const bool same_dtype = x.dtype == y.dtype;
    const std::string dtypes = std::string(mindsave::dtype_name(x.dtype)) + " in A, " +
                               std::string(mindsave::dtype_name(y.dtype)) + " in B";
    if (x.shape != y.shape) {
        line = "shape mismatch: " + mindsave::shape_string(x.shape) + " in A, " + mindsave::shape_string(y.shape) +
               " in B" + (same_dtype ? "" : "; dtype " + dtypes);
        return Outcome::mismatched;
    }
    if (same_dtype && same_bytes(x, y)) {
        line = "identical";
        return Outcome::identical;
    }
    const std::string numbers = describe(numeric_diff(x, y), elements_of(x));
    if (!same_dtype) {
        line = "dtype mismatch: " + dtypes + "; " + numbers;
        return Outcome::mismatched;
    }
    line = numbers;
    return Outcome::different;
}

int run_diff(const ParsedArgs& args) {
    constexpr std::string_view names[] = {"A", "B"};
    args.expect_positional(names);
    const fs::path path_a = args.positional[0], path_b = args.positional[1];
    const AnyInput file_a(path_a, detect_format(path_a), false), file_b(path_b, detect_format(path_b), false);
    const auto& ra = file_a.records();
    const auto& rb = file_b.records();

    // A name that appears twice counts once, with its last value, as every loader takes it.
    auto last_index = [](const std::vector<RecordView>& rs) {
        std::unordered_map<std::string_view, std::size_t> m;
        for (std::size_t i = 0; i < rs.size(); ++i) m[rs[i].name] = i;
        return m;
    };
    const auto index_a = last_index(ra), index_b = last_index(rb);
    std::vector<std::size_t> only_a, only_b;
    std::vector<std::string_view> shared_in_a, shared_in_b;  // shared names in each file's order
    std::size_t identical = 0, different = 0, mismatched = 0;
    std::string out;
    for (std::size_t i = 0; i < ra.size(); ++i) {
        if (index_a.at(ra[i].name) != i) continue;
        const auto it = index_b.find(ra[i].name);
        if (it == index_b.end()) {
            only_a.push_back(i);
            continue;
        }
        shared_in_a.push_back(ra[i].name);
        std::string line;
        switch (compare(ra[i], rb[it->second], line)) {
            case Outcome::identical: ++identical; break;
            case Outcome::different: ++different; break;
            case Outcome::mismatched: ++mismatched; break;
        }
        out += escaped(ra[i].name, Escape::terminal) + ": " + line + "\n";
    }
    for (std::size_t i = 0; i < rb.size(); ++i) {
        if (index_b.at(rb[i].name) != i) continue;
        if (index_a.contains(rb[i].name)) shared_in_b.push_back(rb[i].name);
        else only_b.push_back(i);
    }
    // A record only in A with the very bytes of one only in B is most likely a rename.
    auto twin = [](const RecordView& r, const std::vector<RecordView>& other, const std::vector<std::size_t>& among,
                   const char* side) -> std::string {
        for (const auto j : among)
            if (same_content(r, other[j]))
                return " (same content as '" + escaped(other[j].name, Escape::terminal) + "' in " + side + ")";
        return "";
    };
    for (const auto i : only_a) out += "only in A: " + escaped(ra[i].name, Escape::terminal) + twin(ra[i], rb, only_b, "B") + "\n";
    for (const auto i : only_b) out += "only in B: " + escaped(rb[i].name, Escape::terminal) + twin(rb[i], ra, only_a, "A") + "\n";
    const bool reordered = shared_in_a != shared_in_b;
    if (reordered) out += "order: the shared records are in a different order\n";
    if (file_a.has_crc_footer() != file_b.has_crc_footer())
        out += std::string("note: ") + (file_a.has_crc_footer() ? "A" : "B") +
               " has a CRC footer and the other has none (framing is not compared)\n";
    const bool differ = different || mismatched || !only_a.empty() || !only_b.empty() || reordered;
    out += "summary: " + std::to_string(identical) + " identical, " + std::to_string(different) + " different, " +
           std::to_string(mismatched) + " mismatched, " + std::to_string(only_a.size()) + " only in A, " +
           std::to_string(only_b.size()) + " only in B: " +
           (differ ? "the checkpoints differ" : "the checkpoints are identical") + "\n";
    std::cout << out;
    return differ ? exit_negative : exit_ok;
}

// ---------------------------------------------------------------------------------------------
// edit

// "2.2", "2.3", or any MindSpore version: the writer generation changed in 2.3.
mindsave::format::CkptWriter parse_writer(const std::string& command, const std::string& text) {
    unsigned major = 0, minor = 0;
    const char* const end = text.data() + text.size();
    auto r = std::from_chars(text.data(), end, major);
    bool ok = r.ec == std::errc{} && r.ptr != end && *r.ptr == '.';
    if (ok) {
        r = std::from_chars(r.ptr + 1, end, minor);
        ok = r.ec == std::errc{} && (r.ptr == end || *r.ptr == '.');
    }
    if (!ok)
        throw UsageError(command, "--writer '" + text + "' is not a MindSpore version: use 2.2 (or older) or 2.3 (or newer)");
    return major < 2 || (major == 2 && minor <= 2) ? mindsave::format::CkptWriter::v2_2
                                                  : mindsave::format::CkptWriter::v2_3;
}

// " (did you mean 'x'?)" for the name in candidates closest to name, or "".
std::string closest(const std::string& name, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(3, name.size() / 3) + 1;
    for (const auto& c : candidates) {
        if (c.ends_with("." + name)) return " (did you mean '" + c + "'?)";
        const std::size_t d = mindsave::detail::edit_distance(name, c);
        if (d < best_distance) best_distance = d, best = c;
    }
    return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

int run_edit(const ParsedArgs& args) {
    constexpr std::string_view names[] = {"IN", "OUT"};
    args.expect_positional(names);
    const fs::path in = args.positional[0], out = args.positional[1];
    const auto drops = args.values("--drop"), drop_prefixes = args.values("--drop-prefix"),
               keep_prefixes = args.values("--keep-prefix");
    std::vector<std::pair<std::string, std::string>> renames;
    for (const auto& v : args.values("--rename")) {
        const auto eq = v.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
            throw UsageError(args.command, "--rename '" + v + "' is not OLD=NEW");
        renames.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    }
    for (const auto& p : drop_prefixes)
        if (p.empty()) throw UsageError(args.command, "--drop-prefix needs a non-empty prefix");
    for (const auto& p : keep_prefixes)
        if (p.empty()) throw UsageError(args.command, "--keep-prefix needs a non-empty prefix");
    const auto writer = parse_writer(args.command, args.value("--writer").value_or("2.3"));
    const bool crc = args.has("--crc");
    if (crc && writer == mindsave::format::CkptWriter::v2_2)
        throw UsageError(args.command, "--crc needs the 2.3 writer: MindSpore <= 2.2 cannot parse a file with "
                                       "a CRC footer (drop --crc, or --writer 2.3)");

    // The whole input is copied into memory here, so OUT may be IN.
    mindsave::ParameterDict dict = mindsave::load_checkpoint(in, {.crc_check = true});
    const auto keys = dict.keys();
    const std::string where = in.string() + ": ";
    auto matches_any = [](const std::string& name, const std::vector<std::string>& prefixes) {
        return std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return name.starts_with(p); });
    };
    auto matches_some_key = [&](const std::string& prefix) {
        return std::any_of(keys.begin(), keys.end(), [&](const std::string& k) { return k.starts_with(prefix); });
    };
    for (const auto& p : keep_prefixes)
        if (!matches_some_key(p)) throw mindsave::ParameterError(where + "--keep-prefix '" + p + "' matches no record");
    for (const auto& p : drop_prefixes)
        if (!matches_some_key(p)) throw mindsave::ParameterError(where + "--drop-prefix '" + p + "' matches no record");
    for (const auto& d : drops)
        if (!dict.contains(d))
            throw mindsave::ParameterError(where + "--drop '" + d + "': no record has this name" + closest(d, keys));
    const std::unordered_set<std::string> dropped_names(drops.begin(), drops.end());
    auto dropped = [&](const std::string& name) {
        return dropped_names.contains(name) || matches_any(name, drop_prefixes) ||
               (!keep_prefixes.empty() && !matches_any(name, keep_prefixes));
    };
    std::unordered_map<std::string, std::string> new_name;
    for (const auto& [from, to] : renames) {
        if (!dict.contains(from))
            throw mindsave::ParameterError(where + "--rename '" + from + "=" + to + "': no record named '" + from +
                                           "'" + closest(from, keys));
        if (dropped(from))
            throw mindsave::ParameterError(where + "--rename '" + from + "=" + to + "': '" + from +
                                           "' is also dropped (by --drop, --drop-prefix or --keep-prefix)");
        if (!new_name.emplace(from, to).second)
            throw UsageError(args.command, "'" + from + "' is renamed twice");
    }

    std::vector<mindsave::TensorRecord> kept;
    std::unordered_map<std::string, std::string> source_of;  // final name -> its name in IN
    std::size_t renamed = 0;
    for (auto& r : dict) {
        if (dropped(r.name)) continue;
        const auto it = new_name.find(r.name);
        std::string final_name = it == new_name.end() ? r.name : it->second;
        const auto [other, fresh] = source_of.emplace(final_name, r.name);
        if (!fresh) {
            const std::string& a = other->second;
            const std::string& b = r.name;
            const bool a_renamed = new_name.contains(a), b_renamed = new_name.contains(b);
            const std::string culprit = b_renamed ? b : a;
            throw mindsave::ParameterError(
                where + "--rename '" + culprit + "=" + final_name + "': " +
                (a_renamed && b_renamed ? "'" + a + "' is renamed to '" + final_name + "' too"
                                        : "a record named '" + final_name + "' stays in the output") +
                " (drop it with --drop, rename it as well, or choose another name)");
        }
        if (it != new_name.end() && it->second != r.name) ++renamed;
        r.name = std::move(final_name);
        kept.push_back(std::move(r));
    }
    if (kept.empty())
        throw mindsave::ParameterError(where + "every record is dropped: nothing would be saved "
                                               "(check --drop-prefix and --keep-prefix)");

    mindsave::save_checkpoint(kept, out, {.crc_check = crc, .writer = writer});
    const fs::path written = mindsave::checkpoint_file_name<ckpt>(out);
    std::cout << "wrote " << written.string() << ": " << kept.size() << (kept.size() == 1 ? " record, " : " records, ")
              << fs::file_size(written) << " bytes ("
              << (writer == mindsave::format::CkptWriter::v2_2 ? "MindSpore <= 2.2 writer" : "MindSpore >= 2.3 writer")
              << (crc ? ", CRC footer" : ", no CRC footer") << "); " << dict.size() - kept.size() << " dropped, "
              << renamed << " renamed\n";
    return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// convert

int run_convert(const ParsedArgs& args) {
    constexpr std::string_view names[] = {"IN", "OUT"};
    args.expect_positional(names);
    const fs::path in = args.positional[0], out = args.positional[1];
    const auto out_format = format_of_extension(out);
    if (!out_format)
        throw UsageError(args.command, "cannot tell the format of OUT '" + out.string() +
                                           "' from its extension: use .ckpt, .safetensors, .pth or .pt");
    const bool crc = args.has("--crc");
    if (crc && *out_format == FileFormat::pth)
        throw UsageError(args.command, "--crc is for .ckpt and .safetensors output: a .pth always carries a CRC-32 per zip entry");
    mindsave::NameMap map;
    const mindsave::torchvision::BuiltinMap* builtin = nullptr;
    if (const auto file = args.value("--map"); file && file->starts_with("builtin:")) {
        const std::string_view name = std::string_view(*file).substr(8);
        for (const auto& m : mindsave::torchvision::builtin_maps)
            if (m.name == name) builtin = &m;
        if (!builtin) {
            std::string known;
            for (const auto& m : mindsave::torchvision::builtin_maps) known += " builtin:" + std::string(m.name);
            throw UsageError(args.command, "no built-in map '" + std::string(name) + "'; there is:" + known);
        }
        map = mindsave::NameMap::from_rules(builtin->rules, *file);
    } else if (file) {
        map = mindsave::NameMap::load(*file);
    }

    const FileFormat in_format = detect_format(in);
    const AnyInput input(in, in_format);
    const auto& records = input.records();
    std::vector<std::string> current;
    current.reserve(records.size());
    for (const auto& r : records) current.emplace_back(r.name);

    // 1. the user's map, on IN's names
    std::vector<std::optional<std::string>> final_names(current.begin(), current.end());
    std::size_t map_renamed = 0, map_dropped = 0;
    if (!map.empty()) {
        for (const auto& rule : map.unused(current))
            std::cerr << "mindsave: warning: --map " << *args.value("--map") << " " << escaped(rule, Escape::terminal)
                      << " matches no name in " << in.string() << "\n";
        const auto plan = map.plan(current);
        for (std::size_t i = 0; i < plan.names.size(); ++i) {
            if (!plan.names[i]) ++map_dropped;
            else if (*plan.names[i] != current[i]) ++map_renamed;
            final_names[i] = plan.names[i];
        }
    }
    // 2. the naming convention of the target, on the names that are left
    const bool from_mindspore = input.mindspore_names(), to_mindspore = *out_format != FileFormat::pth;
    std::vector<std::pair<std::size_t, mindsave::TensorRecord>> added;
    std::size_t bn_renamed = 0, bn_dropped = 0;
    if (from_mindspore != to_mindspore && !args.has("--keep-names")) {
        std::vector<std::string> kept;
        std::vector<std::size_t> where;
        for (std::size_t i = 0; i < final_names.size(); ++i)
            if (final_names[i]) kept.push_back(*final_names[i]), where.push_back(i);
        auto plan = to_mindspore ? mindsave::pytorch_to_mindspore_names(kept) : mindsave::mindspore_to_pytorch_names(kept);
        for (std::size_t k = 0; k < kept.size(); ++k) {
            if (!plan.names[k]) ++bn_dropped;
            else if (*plan.names[k] != kept[k]) ++bn_renamed;
            final_names[where[k]] = std::move(plan.names[k]);
        }
        for (auto& [k, record] : plan.added) added.emplace_back(where[k], std::move(record));
    }

    std::vector<RecordView> views;
    std::unordered_map<std::string_view, std::string_view> source_of;  // output name -> its name in IN
    auto add_view = [&](RecordView v, std::string_view source) {
        const auto [other, fresh] = source_of.emplace(v.name, source);
        if (!fresh)
            throw mindsave::ParameterError(in.string() + ": '" + std::string(other->second) + "' and '" + std::string(source) +
                                           "' would both be saved as '" + std::string(v.name) + "' (fix the --map rules)");
        views.push_back(std::move(v));
    };
    std::deque<std::vector<std::byte>> encoded;  // string values of added records (none today) stay here
    std::size_t next_added = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (final_names[i]) {
            RecordView v = records[i];
            v.name = *final_names[i];
            add_view(std::move(v), records[i].name);
        }
        for (; next_added < added.size() && added[next_added].first == i; ++next_added)
            add_view(added[next_added].second.view(&encoded.emplace_back()), "(added)");
    }
    if (views.empty())
        throw mindsave::ParameterError(in.string() + ": every record is dropped: nothing would be saved (check --map)");
    if (builtin) {  // the target network's order (MindSpore saves a network in it); names it lacks go last
        const auto schema = builtin->target_schema();
        std::unordered_map<std::string_view, std::size_t> rank;
        for (std::size_t i = 0; i < schema.size(); ++i) rank.emplace(schema[i].name, i);
        auto rank_of = [&](const RecordView& v) {
            const auto it = rank.find(v.name);
            return it == rank.end() ? schema.size() : it->second;
        };
        std::stable_sort(views.begin(), views.end(), [&](const RecordView& a, const RecordView& b) { return rank_of(a) < rank_of(b); });
    }

    switch (*out_format) {
        case FileFormat::ckpt: ckpt::write(out, views, {.crc = crc}); break;
        case FileFormat::safetensors: mindsave::format::safetensors::write(out, views, {.crc = crc}); break;
        case FileFormat::pth: mindsave::format::pth::write(out, views); break;
    }
    std::string naming = from_mindspore == to_mindspore ? "names kept"
                         : args.has("--keep-names")       ? "names kept (--keep-names)"
                                                          : std::string(to_mindspore ? "PyTorch -> MindSpore" : "MindSpore -> PyTorch") +
                                                                " names: " + std::to_string(bn_renamed) + " renamed, " +
                                                                std::to_string(bn_dropped) + " dropped, " +
                                                                std::to_string(added.size()) + " added";
    std::cout << "wrote " << out.string() << " (" << format_name(*out_format) << ") from " << in.string() << " ("
              << format_name(in_format) << "): " << views.size() << (views.size() == 1 ? " record, " : " records, ")
              << fs::file_size(out) << " bytes; " << naming;
    if (!map.empty()) std::cout << "; map: " << map_renamed << " renamed, " << map_dropped << " dropped";
    std::cout << (crc ? "; with CRC-32" : "") << "\n";
    return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// Dispatch

constexpr OptionSpec inspect_options[] = {{"--json", false}};
constexpr OptionSpec edit_options[] = {{"--drop", true},   {"--drop-prefix", true}, {"--keep-prefix", true},
                                       {"--rename", true}, {"--writer", true},      {"--crc", false}};
constexpr OptionSpec convert_options[] = {{"--map", true}, {"--keep-names", false}, {"--crc", false}};

struct Command {
    std::string_view name;
    std::string_view help;
    std::span<const OptionSpec> options;
    int (*run)(const ParsedArgs&);
};

constexpr Command commands[] = {
    {"inspect", inspect_help, inspect_options, run_inspect},
    {"verify", verify_help, {}, run_verify},
    {"diff", diff_help, {}, run_diff},
    {"edit", edit_help, edit_options, run_edit},
    {"convert", convert_help, convert_options, run_convert},
};

const Command* find_command(std::string_view name) {
    for (const auto& c : commands)
        if (c.name == name) return &c;
    return nullptr;
}

int run(std::span<char* const> args) {
    if (args.empty()) {
        std::cerr << main_help;
        return exit_error;
    }
    const std::string_view name = args[0];
    if (name == "help" || name == "--help" || name == "-h") {
        if (args.size() > 2) throw UsageError("", "'help' takes at most one command name");
        if (args.size() == 1) {
            std::cout << main_help;
            return exit_ok;
        }
        const Command* c = find_command(args[1]);
        if (!c) throw UsageError("", "unknown command '" + std::string(args[1]) + "'");
        std::cout << c->help;
        return exit_ok;
    }
    const Command* c = find_command(name);
    if (!c) throw UsageError("", "unknown command '" + std::string(name) + "'");
    const ParsedArgs parsed = parse_args(std::string(name), args.subspan(1), c->options);
    if (parsed.help) {
        std::cout << c->help;
        return exit_ok;
    }
    return c->run(parsed);
}

}  // namespace

int main(int argc, char** argv) {
    int status = exit_error;
    try {
        status = run(std::span<char* const>(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0)));
    } catch (const UsageError& e) {
        std::cerr << "mindsave: " << e.what() << "\n"
                  << "Try 'mindsave " << (e.command().empty() ? "" : e.command() + " ") << "--help'.\n";
        return exit_error;
    } catch (const mindsave::Error& e) {
        std::cerr << "mindsave: " << e.what() << "\n";
        return exit_error;
    } catch (const std::bad_alloc&) {
        std::cerr << "mindsave: out of memory\n";
        return exit_error;
    } catch (const std::exception& e) {
        std::cerr << "mindsave: " << e.what() << "\n";
        return exit_error;
    } catch (...) {
        std::cerr << "mindsave: unexpected error\n";
        return exit_error;
    }
    // A full disk or closed pipe behind stdout must not pass for success.
    std::cout.flush();
    if (!std::cout) {
        std::cerr << "mindsave: cannot write the output\n";
        return exit_error;
    }
    return status;
}
