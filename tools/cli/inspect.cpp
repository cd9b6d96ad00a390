// mindsave inspect: lists a file's records with their statistics, as text or JSON.
// Every format load_checkpoint reads: .ckpt, safetensors, .pth, MindIR and ONNX (their weights).

#include <algorithm>
#include <cstddef>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "mindsave/formats/ckpt.hpp"
#include "mindsave/io/file.hpp"
#include "cli.hpp"
#include "input.hpp"
#include "text.hpp"

namespace mindsave::cli {
namespace {

using ckpt = mindsave::format::ckpt;

constexpr std::string_view inspect_help = R"(usage: mindsave inspect FILE [--json] [--dec-key KEY | --dec-key-file F] [--dec-mode M]

Prints one line per record: name, dtype (or 'str' for a string value), shape, bytes, and
min/max/mean of the values (NaNs are left out and counted), the value itself for a
one-element tensor, the text for a string; then a summary line (records, bytes, CRC footer).
A safetensors or .pth file is read with its CRCs checked (crc_num, zip entries): damage is an error.
A MindIR or ONNX model lists its weights (initializers); those formats carry no checksums.

options:
  --json    print one JSON document instead: {"file", "format", "file_bytes", "tensor_bytes", "crc",
            "crc_ok", "records": [{"name", "dtype", "shape", "elements", "bytes", "min", "max",
            "mean", "nan_count", "value" (one element), "text" (str)}]}; non-finite numbers are null
  --dec-key KEY       decrypt FILE, saved by MindSpore with enc_key (a .ckpt or MindIR): KEY's bytes
                      are the key (16, 24 or 32 for AES, 16 for SM4). A key given on the command
                      line shows in the process list, so
  --dec-key-file F    reads it from F's bytes instead
  --dec-mode MODE     AES-GCM (MindSpore's default), AES-CBC or SM4-CBC
)";

constexpr OptionSpec inspect_options[] = {{"--json", false}, {"--dec-key", true}, {"--dec-key-file", true},
                                          {"--dec-mode", true}};

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

int print_inspection(const ParsedArgs& args, const fs::path& path, Detected format, std::size_t file_bytes,
                     const std::vector<RecordView>& records, const CrcState& crc);

int run_inspect(const ParsedArgs& args) {
    constexpr std::string_view names[] = {"FILE"};
    args.expect_positional(names);
    const fs::path path = args.positional[0];
    if (const auto decryption = decryption_of(args)) {  // an encrypted .ckpt or MindIR
        const Input input(path, *decryption);
        return print_inspection(args, path, input.format(), fs::file_size(path), input.records(),
                                {false, std::nullopt, input.crc_text()});
    }
    if (const Detected format = detect_format(path); format != Detected::ckpt) {
        const Input input(path, format);  // checks the format's CRCs: a damaged file is an error
        const bool present = input.has_crc();
        return print_inspection(args, path, format, fs::file_size(path), input.records(),
                                {present, present ? std::optional<bool>(true) : std::nullopt, input.crc_text()});
    }
    const mindsave::io::MappedFile file(path);
    const auto contents = ckpt::parse(file.bytes(), path);
    std::optional<bool> crc_ok;  // reported, not thrown: inspect shows a damaged file's records
    if (contents.has_crc())
        crc_ok = contents.crc_matches(file.bytes().first(file.bytes().size() - mindsave::format::detail::crc_footer_bytes));
    return print_inspection(args, path, Detected::ckpt, file.bytes().size(), contents.records(),
                            {contents.has_crc(), crc_ok, crc_summary(contents.has_crc(), crc_ok)});
}

int print_inspection(const ParsedArgs& args, const fs::path& path, Detected format, std::size_t file_bytes,
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
           (format == Detected::ckpt ? "" : std::string(format_name(format)) + ", ") + crc.summary + "\n";
    std::cout << out;
    return exit_ok;
}


}  // namespace

const Command inspect_command{"inspect", inspect_help, inspect_options, run_inspect};

}  // namespace mindsave::cli
