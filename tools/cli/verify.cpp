// mindsave verify: parses every record of a file and checks its checksums where the format has them.

#include <iostream>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cli.hpp"
#include "input.hpp"
#include "text.hpp"

namespace mindsave::cli {
namespace {

constexpr std::string_view verify_help = R"(usage: mindsave verify FILE

Parses every record of FILE (lengths, field layout, dtypes, shape against byte count) and,
when the file ends in MindSpore's 'crc_num' footer (crc_check=True, MindSpore >= 2.3), checks
the CRC-32 of the records against it. Prints 'ok: N records, crc verified' or
'ok: N records, no crc footer'. Without a footer, damage inside tensor values cannot be seen:
save with 'mindsave edit IN OUT --crc' to add one. A safetensors file is checked against
its "crc_num" metadata when it has one, a .pth against every zip entry's CRC-32
('ok: N records, pth, zip CRC-32s verified'). A MindIR or ONNX model's weights are parsed
('ok: N records, onnx, no checksums (the format has none)').

exit status: 0 ok; 1 the file is damaged (the error names the file and the record);
2 the file cannot be read.
)";

int run_verify(const ParsedArgs& args) {
    constexpr std::string_view names[] = {"FILE"};
    args.expect_positional(names);
    const fs::path path = args.positional[0];
    const Detected format = detect_format(path);  // unreadable: exit 2 from main
    try {
        const Input input(path, format);
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
                  << (format == Detected::ckpt ? "" : std::string(format_name(format)) + ", ") << input.crc_text() << "\n";
        return exit_ok;
    } catch (const mindsave::Error& e) {
        std::cerr << "mindsave: " << e.what() << "\n";
        return exit_negative;
    }
}


}  // namespace

const Command verify_command{"verify", verify_help, {}, run_verify};

}  // namespace mindsave::cli
