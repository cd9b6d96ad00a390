// mindsave bench: checkpoint save and load throughput on this machine and these files, each figure beside
// the same bytes moved by raw write(), read() and memcpy in the same run.

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <xtensor/xarray.hpp>

#include "cli.hpp"
#include "mindsave/checkpoint/load.hpp"
#include "mindsave/checkpoint/save.hpp"
#include "mindsave/formats/pth.hpp"
#include "mindsave/formats/safetensors.hpp"
#include "mindsave/io/file.hpp"
#include "text.hpp"

namespace mindsave::cli {
namespace {

constexpr std::string_view bench_help = R"(usage: mindsave bench [FILE] [--size MIB] [--tensors N] [--rounds N] [--formats LIST] [--dir DIR] [--json]

Measures checkpoint I/O on this machine: saves the tensors of FILE (any file load_checkpoint reads;
its float32 tensors), or a generated set of --tensors N float32 tensors totalling --size MIB (default
64 tensors, 64 MiB), in every format of --formats (default ckpt,safetensors,pth), then loads each
file into a dict (load_checkpoint) and into memory laid out as a network (load_param_into_net).
Every figure is the median of --rounds runs (default 3) and stands beside the same bytes moved by
raw POSIX calls in the same run:
  save durable      vs write + fsync + rename + folder fsync
  save page cache   vs write + rename (no fsync; Durability::page_cache, as MindSpore's own save)
  load into dict    vs read() into a fresh buffer (each run from a trimmed heap)
  load into net     vs read() into memory already touched
and memcpy of the bytes, the ceiling of any in-memory copy. Files are written to --dir (default: a
folder under $TMPDIR or /tmp, removed afterwards). --json prints one JSON object for scripts.

exit status: 0 done; 2 usage error, or a file that cannot be read or written.
)";

constexpr OptionSpec bench_options[] = {{"--size", true},    {"--tensors", true}, {"--rounds", true},
                                        {"--formats", true}, {"--dir", true},     {"--json", false}};

using Clock = std::chrono::steady_clock;

// A network's memory for the tensors: one float32 array per record, as a model holds its parameters.
struct BenchNet {
    std::vector<std::string> names;
    std::vector<xt::xarray<float>> values;
    template <class F>
    void visit_parameters(F&& f) {
        for (std::size_t i = 0; i < values.size(); ++i) f(std::string_view(names[i]), values[i]);
    }
};

std::size_t positive(const ParsedArgs& args, std::string_view name, std::size_t fallback) {
    const auto v = args.value(name);
    if (!v) return fallback;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || n == 0 || n > (1ull << 40))
        throw UsageError("bench", "option '" + std::string(name) + "' needs a positive whole number, not '" + *v + "'");
    return static_cast<std::size_t>(n);
}

BenchNet generated(std::size_t bytes, std::size_t tensors) {
    BenchNet net;
    const std::size_t each = std::max<std::size_t>(1, bytes / tensors / sizeof(float));
    std::uint32_t x = 12345;  // incompressible-looking values, cheaply
    for (std::size_t i = 0; i < tensors; ++i) {
        net.names.push_back("layer" + std::to_string(i) + ".weight");
        auto& t = net.values.emplace_back(xt::xarray<float>::from_shape({each}));
        for (auto& v : t) x = x * 1664525u + 1013904223u, v = static_cast<float>(x >> 8) * 0x1p-24f - 0.5f;
    }
    return net;
}

BenchNet from_file(const fs::path& path) {
    BenchNet net;
    for (const auto& r : load_checkpoint(path)) {
        if (r.is_string() || r.dtype != DType::Float32) continue;
        net.names.push_back(r.name);
        auto& t = net.values.emplace_back(xt::xarray<float>::from_shape(r.shape));
        if (!r.data.empty()) std::memcpy(t.data(), r.data.data(), r.data.size());
    }
    if (net.values.empty())
        throw FormatError(path, "holds no float32 tensors to measure with; run 'mindsave bench' without a FILE for a "
                                "generated set");
    return net;
}

// prepare runs untimed before each run: fresh-memory loads start from a trimmed heap, as a first load in a
// process does (else they reuse the pages the previous run freed, and the figure measures glibc).
double median_seconds(std::size_t rounds, const std::function<void()>& work, const std::function<void()>& prepare = {}) {
    if (prepare) prepare();
    work();  // warm: the page cache, the allocator, the files in place
    std::vector<double> t;
    for (std::size_t i = 0; i < rounds; ++i) {
        if (prepare) prepare();
        const auto t0 = Clock::now();
        work();
        t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// ---- the raw limits ----

void raw_write(const fs::path& path, std::span<const std::byte> bytes, bool durable) {
    fs::path tmp = path;
    tmp += ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw FileError(tmp, "cannot create: " + io::detail::errno_message(errno) + "; choose another --dir");
    for (std::size_t done = 0; done < bytes.size();) {
        const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            const int err = errno;
            ::close(fd);
            throw FileError(tmp, "cannot write: " + io::detail::errno_message(err) + "; choose another --dir");
        }
        done += static_cast<std::size_t>(w);
    }
    if (durable) ::fsync(fd);
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        throw FileError(path, "cannot rename into place: " + io::detail::errno_message(errno) + "; choose another --dir");
    if (!durable) return;
    const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) ::fsync(dir), ::close(dir);
}

void raw_read(const fs::path& path, std::span<std::byte> into) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw FileError(path, "cannot open for reading: " + io::detail::errno_message(errno));
    for (std::size_t done = 0; done < into.size();) {
        const ssize_t r = ::read(fd, into.data() + done, into.size() - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        done += static_cast<std::size_t>(r);
    }
    ::close(fd);
}

void trim_heap() { ::malloc_trim(0); }

struct Row {
    std::string operation, format, limit;
    double seconds, limit_seconds;
};

template <class Format>
void measure_format(const std::string& name, BenchNet& net, const fs::path& dir, std::size_t rounds,
                    const std::vector<std::pair<std::string, double>>& limits, std::vector<Row>& rows) {
    const auto limit = [&](std::string_view name) {
        for (const auto& [n, s] : limits)
            if (n == name) return s;
        return 0.0;
    };
    const fs::path file = checkpoint_file_name<Format>(dir / ("bench_" + name));
    const SaveOptions page_cache{.durability = io::Durability::page_cache};
    rows.push_back({"save durable", name, "write+fsync", median_seconds(rounds, [&] { save_checkpoint<Format>(net, file); }),
                    limit("write+fsync")});
    rows.push_back({"save page cache", name, "write",
                    median_seconds(rounds, [&] { save_checkpoint<Format>(net, file, page_cache); }), limit("write")});
    rows.push_back({"load into dict", name, "read fresh",
                    median_seconds(rounds, [&] { volatile auto n = load_checkpoint<Format>(file).size(); (void)n; }, trim_heap),
                    limit("read fresh")});
    BenchNet into = net;
    rows.push_back({"load into net", name, "read touched",
                    median_seconds(rounds, [&] { load_param_into_net<match::strict, Format>(into, file); }),
                    limit("read touched")});
}

int run_bench(const ParsedArgs& args) {
    if (args.positional.size() > 1) throw UsageError("bench", "'bench' takes at most one FILE");
    const std::size_t rounds = positive(args, "--rounds", 3);
    std::vector<std::string> formats{"ckpt", "safetensors", "pth"};
    if (const auto list = args.value("--formats")) {
        formats.clear();
        for (std::size_t at = 0; at <= list->size();) {
            const auto comma = std::min(list->find(',', at), list->size());
            const std::string f = list->substr(at, comma - at);
            if (f != "ckpt" && f != "safetensors" && f != "pth")
                throw UsageError("bench", "unknown format '" + f + "' in --formats (ckpt, safetensors, pth)");
            formats.push_back(f);
            at = comma + 1;
        }
    }
    BenchNet net = args.positional.empty()
                       ? generated(positive(args, "--size", 64) << 20, positive(args, "--tensors", 64))
                       : from_file(args.positional[0]);
    std::size_t bytes = 0;
    for (const auto& v : net.values) bytes += v.size() * sizeof(float);

    const bool own_dir = !args.value("--dir");
    const char* tmp = std::getenv("TMPDIR");
    const fs::path dir = own_dir ? fs::path(tmp && *tmp ? tmp : "/tmp") / ("mindsave_bench_" + std::to_string(::getpid()))
                                 : fs::path(*args.value("--dir"));
    if (std::error_code ec; !fs::create_directories(dir, ec) && ec)
        throw FileError(dir, "cannot create the folder for the benchmark's files: " + ec.message() +
                                 "; choose another --dir");
    struct Cleanup {
        fs::path dir;
        bool own;
        ~Cleanup() {
            std::error_code ec;
            if (own) fs::remove_all(dir, ec);
        }
    } cleanup{dir, own_dir};

    // The raw limits, on the same byte count.
    std::vector<std::byte> source(bytes), touched(bytes, std::byte{1});
    for (std::size_t i = 0; i < bytes; ++i) source[i] = static_cast<std::byte>(i * 2654435761u >> 24);
    const fs::path raw = dir / "bench_raw.bin";
    std::vector<std::pair<std::string, double>> limits;
    limits.emplace_back("write+fsync", median_seconds(rounds, [&] { raw_write(raw, source, true); }));
    limits.emplace_back("write", median_seconds(rounds, [&] { raw_write(raw, source, false); }));
    limits.emplace_back("read fresh", median_seconds(rounds, [&] {
        const auto fresh = std::make_unique_for_overwrite<std::byte[]>(bytes);
        raw_read(raw, {fresh.get(), bytes});
    }, trim_heap));
    limits.emplace_back("read touched", median_seconds(rounds, [&] { raw_read(raw, touched); }));
    limits.emplace_back("memcpy", median_seconds(rounds, [&] {
        std::memcpy(touched.data(), source.data(), bytes);
        volatile std::byte sink = touched[bytes / 2];
        (void)sink;
    }));

    std::vector<Row> rows;
    for (const auto& f : formats) {
        if (f == "ckpt") measure_format<format::ckpt>(f, net, dir, rounds, limits, rows);
        if (f == "safetensors") measure_format<format::safetensors>(f, net, dir, rounds, limits, rows);
        if (f == "pth") measure_format<format::pth>(f, net, dir, rounds, limits, rows);
    }

    const auto gbs = [&](double seconds) { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0.0; };
    char line[200];
    if (args.has("--json")) {
        std::cout << "{\"bytes\": " << bytes << ", \"tensors\": " << net.values.size() << ", \"rounds\": " << rounds
                  << ", \"limits\": {";
        for (std::size_t i = 0; i < limits.size(); ++i) {
            std::snprintf(line, sizeof line, "%s%s: {\"seconds\": %.6g, \"gb_per_s\": %.4g}", i ? ", " : "",
                          json_string(limits[i].first).c_str(), limits[i].second, gbs(limits[i].second));
            std::cout << line;
        }
        std::cout << "}, \"rows\": [";
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const auto& r = rows[i];
            std::snprintf(line, sizeof line, "%s{\"operation\": %s, \"format\": %s, \"seconds\": %.6g, \"gb_per_s\": %.4g, ",
                          i ? ", " : "", json_string(r.operation).c_str(), json_string(r.format).c_str(), r.seconds,
                          gbs(r.seconds));
            std::cout << line;
            std::snprintf(line, sizeof line, "\"limit\": %s, \"limit_gb_per_s\": %.4g, \"ratio\": %.4g}",
                          json_string(r.limit).c_str(), gbs(r.limit_seconds), r.limit_seconds / r.seconds);
            std::cout << line;
        }
        std::cout << "]}\n";
        return exit_ok;
    }
    std::snprintf(line, sizeof line, "%zu float32 tensors, %.1f MiB, median of %zu rounds, files in %s\n",
                  net.values.size(), static_cast<double>(bytes) / (1 << 20), rounds, dir.c_str());
    std::cout << line;
    std::snprintf(line, sizeof line, "%-16s %-12s %10s %8s   %-13s %8s %7s\n", "operation", "format", "ms", "GB/s",
                  "limit", "GB/s", "ratio");
    std::cout << line;
    for (const auto& r : rows) {
        std::snprintf(line, sizeof line, "%-16s %-12s %10.2f %8.2f   %-13s %8.2f %6.2fx\n", r.operation.c_str(),
                      r.format.c_str(), r.seconds * 1e3, gbs(r.seconds), r.limit.c_str(), gbs(r.limit_seconds),
                      r.limit_seconds / r.seconds);
        std::cout << line;
    }
    std::snprintf(line, sizeof line, "%-16s %-12s %10.2f %8.2f   (the ceiling of any copy in memory)\n", "memcpy", "-",
                  limits.back().second * 1e3, gbs(limits.back().second));
    std::cout << line;
    return exit_ok;
}

}  // namespace

const Command bench_command{"bench", bench_help, bench_options, run_bench};

}  // namespace mindsave::cli
