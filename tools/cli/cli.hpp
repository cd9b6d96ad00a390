// The mindsave command-line program's common parts: exit statuses, usage errors, option parsing and the
// command table each command's file adds itself to (one file per command beside this one).
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mindsave::cli {

namespace fs = std::filesystem;

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
inline ParsedArgs parse_args(std::string command, std::span<char* const> args, std::span<const OptionSpec> specs) {
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
// Commands

struct Command {
    std::string_view name;
    std::string_view help;
    std::span<const OptionSpec> options;
    int (*run)(const ParsedArgs&);
};

extern const Command inspect_command, verify_command, diff_command, edit_command, convert_command, bench_command;

}  // namespace mindsave::cli
