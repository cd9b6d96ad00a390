// mindsave edit: drops and renames records of a .ckpt and saves the result atomically.

#include <algorithm>
#include <charconv>
#include <iostream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "mindsave/checkpoint/load.hpp"
#include "mindsave/checkpoint/save.hpp"
#include "mindsave/core/closest_name.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/parameter_dict.hpp"
#include "mindsave/formats/ckpt.hpp"
#include "cli.hpp"
#include "input.hpp"
#include "text.hpp"

namespace mindsave::cli {
namespace {

using ckpt = mindsave::format::ckpt;

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

constexpr OptionSpec edit_options[] = {{"--drop", true},   {"--drop-prefix", true}, {"--keep-prefix", true},
                                       {"--rename", true}, {"--writer", true},      {"--crc", false}};

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
    const auto c = mindsave::closest_name(name, candidates);
    return c ? " (did you mean '" + c->name + "'?)" : "";
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


}  // namespace

const Command edit_command{"edit", edit_help, edit_options, run_edit};

}  // namespace mindsave::cli
