// mindsave: the command-line program over the headers: inspect, verify, diff and edit checkpoints,
// convert among .ckpt, safetensors and PyTorch .pth (MindIR and ONNX models' weights are read too), and
// bench checkpoint I/O on this machine.
// Results go to stdout, errors to stderr; exit 0 ok, 1 negative result, 2 error.

#include <exception>
#include <iostream>
#include <new>
#include <span>
#include <string>
#include <string_view>

#include "mindsave/core/errors.hpp"
#include "cli.hpp"

namespace mindsave::cli {
namespace {

constexpr std::string_view main_help = R"(usage: mindsave <command> [arguments]

Inspect, check, compare and edit MindSpore checkpoint (.ckpt) files; convert among
.ckpt, safetensors and PyTorch .pth files. inspect, verify, diff and convert also read
the weights of MindIR and ONNX models (formats told apart by content, else by extension).

commands:
  inspect FILE [--json]     list the records: name, dtype, shape, bytes, min/max/mean
  verify FILE               check the framing and, when present, the CRC-32s
  diff A B                  compare the records of two checkpoints value by value
  edit IN OUT [options]     drop or rename records and save the result as a new checkpoint
  convert IN OUT [options]  convert between .ckpt, .safetensors and .pth/.pt, renaming for the target
  bench [FILE] [options]    save and load throughput on this machine, beside raw write/read/memcpy
  help [COMMAND]            show this help, or a command's

exit status: 0 success; 1 negative result (verify failed, diff found differences);
2 usage error, or a file that cannot be read or parsed.
Run 'mindsave COMMAND --help' for a command's arguments.
)";

const Command* const commands[] = {&inspect_command, &verify_command, &diff_command, &edit_command, &convert_command,
                                   &bench_command};

const Command* find_command(std::string_view name) {
    for (const Command* c : commands)
        if (c->name == name) return c;
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
}  // namespace mindsave::cli

int main(int argc, char** argv) {
    int status = mindsave::cli::exit_error;
    try {
        status = mindsave::cli::run(std::span<char* const>(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0)));
    } catch (const mindsave::cli::UsageError& e) {
        std::cerr << "mindsave: " << e.what() << "\n"
                  << "Try 'mindsave " << (e.command().empty() ? "" : e.command() + " ") << "--help'.\n";
        return mindsave::cli::exit_error;
    } catch (const mindsave::Error& e) {
        std::cerr << "mindsave: " << e.what() << "\n";
        return mindsave::cli::exit_error;
    } catch (const std::bad_alloc&) {
        std::cerr << "mindsave: out of memory\n";
        return mindsave::cli::exit_error;
    } catch (const std::exception& e) {
        std::cerr << "mindsave: " << e.what() << "\n";
        return mindsave::cli::exit_error;
    } catch (...) {
        std::cerr << "mindsave: unexpected error\n";
        return mindsave::cli::exit_error;
    }
    // A full disk or closed pipe behind stdout must not pass for success.
    std::cout.flush();
    if (!std::cout) {
        std::cerr << "mindsave: cannot write the output\n";
        return mindsave::cli::exit_error;
    }
    return status;
}
