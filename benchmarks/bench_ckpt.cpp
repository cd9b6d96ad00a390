// .ckpt save and load throughput, each measured beside the plain POSIX baseline for the same bytes
// (write + fsync + rename + dir fsync; read() into a buffer; mmap and touch), interleaved in one run.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "mindsave/mindsave.hpp"
#include "resnet50_weights.hpp"

using namespace mindsave;
namespace fs = std::filesystem;
using mindsave::bench::ResNet50Weights;
using mindsave::bench::resnet50_schema;

namespace {

// Files live in a scratch folder under $TMPDIR (or /tmp), removed at exit.
const fs::path& scratch() {
    static const fs::path dir = [] {
        const char* tmp = std::getenv("TMPDIR");
        fs::path d = fs::path(tmp && *tmp ? tmp : "/tmp") / ("mindsave_bench_ckpt_" + std::to_string(::getpid()));
        fs::create_directories(d);
        return d;
    }();
    return dir;
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Page faults so far: on a VM a fault can cost as much as copying the page, so they explain a lot.
long minor_faults() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

[[noreturn]] void die(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// The baseline for a durable save: what AtomicFile does, minus everything ckpt adds.
// durable = false: the same without either fsync, the bytes left in the page cache.
void raw_durable_write(const fs::path& final_path, std::span<const std::byte> bytes, bool durable = true) {
    fs::path tmp = final_path;
    tmp += ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die("open " + tmp.string());
    for (std::size_t done = 0; done < bytes.size();) {
        const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) die("write");
        done += static_cast<std::size_t>(w);
    }
    if (durable && ::fsync(fd) != 0) die("fsync");
    ::close(fd);
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) die("rename");
    if (!durable) return;
    const int dir = ::open(final_path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) ::fsync(dir), ::close(dir);
}

// The baseline for a copying load: the file's bytes in a fresh buffer, nothing parsed.
std::unique_ptr<std::byte[]> raw_read(const fs::path& path, std::size_t& size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + path.string());
    struct stat st {};
    ::fstat(fd, &st);
    size = static_cast<std::size_t>(st.st_size);
    std::unique_ptr<std::byte[]> buf(new std::byte[size]);  // uninitialised: read() fills it
    for (std::size_t done = 0; done < size;) {
        const ssize_t r = ::read(fd, buf.get() + done, size - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("read");
        done += static_cast<std::size_t>(r);
    }
    ::close(fd);
    return buf;
}

// The baseline for a zero-copy open: map the file, read one byte where each record starts (the page
// faults any parser of the mapping must take), unmap. Nothing is decoded.
std::size_t raw_map_touch(const fs::path& path, const std::vector<std::size_t>& record_starts) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + path.string());
    struct stat st {};
    ::fstat(fd, &st);
    const auto size = static_cast<std::size_t>(st.st_size);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) die("mmap");
    unsigned sum = 0;
    for (const auto off : record_starts) sum += static_cast<const volatile unsigned char*>(p)[off];
    ::munmap(p, size);
    return sum;
}

struct LeNetTraining {
    LeNet5<> net{1};
    Momentum opt{net, 0.01f, 0.9f};
};

std::vector<std::byte> noise(std::size_t n) {
    std::vector<std::byte> b(n);
    std::uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (auto& v : b) x = x * 6364136223846793005ULL + 1442695040888963407ULL, v = static_cast<std::byte>(x >> 56);
    return b;
}

// One timed pair per iteration, ours and raw in alternating order (so neither always runs on a disk
// the other just dirtied). Manual time = ours; the raw time goes into counters beside it.
// cold_heap: each call starts from a trimmed heap (malloc_trim, untimed), as a first load in a process
// does. Without it a large load's tensors may land on heap pages the previous iteration faulted in, while
// the raw read's one large buffer is always mapped afresh, and the ratio measures glibc, not the reader.
template <class Ours, class Raw>
void interleave(benchmark::State& state, std::size_t bytes, Ours&& ours, Raw&& raw, bool throughput = true,
                bool cold_heap = false) {
    double raw_total = 0, ours_total = 0;
    long ours_faults = 0, raw_faults = 0;
    std::vector<double> ours_times, raw_times;  // per iteration: medians resist one slow fsync of a noisy disk
    std::size_t i = 0;
    for (auto _ : state) {
        double t_ours = 0, t_raw = 0;
        for (int k = 0; k < 2; ++k) {
            if (cold_heap) ::malloc_trim(0);
            const long f0 = minor_faults();
            const auto t0 = Clock::now();
            if ((k + i) % 2 == 0) {
                ours();
                t_ours = seconds_since(t0);
                ours_faults += minor_faults() - f0;
            } else {
                raw();
                t_raw = seconds_since(t0);
                raw_faults += minor_faults() - f0;
            }
        }
        state.SetIterationTime(t_ours);
        ours_total += t_ours;
        raw_total += t_raw;
        ours_times.push_back(t_ours);
        raw_times.push_back(t_raw);
        ++i;
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        const std::size_t m = v.size() / 2;
        return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
    };
    if (!ours_times.empty()) {
        state.counters["ours_median_ms"] = median(ours_times) * 1e3;
        state.counters["raw_median_ms"] = median(raw_times) * 1e3;
        state.counters["ours_max_ms"] = *std::max_element(ours_times.begin(), ours_times.end()) * 1e3;
        state.counters["raw_max_ms"] = *std::max_element(raw_times.begin(), raw_times.end()) * 1e3;
    }
    const auto n = static_cast<double>(state.iterations());
    state.counters["file_bytes"] = static_cast<double>(bytes);
    if (throughput) {
        state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
        state.counters["raw_bytes_per_second"] = benchmark::Counter(
            static_cast<double>(bytes) * n / raw_total, benchmark::Counter::kDefaults, benchmark::Counter::kIs1024);
    }
    state.counters["raw_ms"] = raw_total / n * 1e3;
    state.counters["ratio_vs_raw"] = ours_total / raw_total;  // time ours / time raw: > 1 is slower
    state.counters["faults"] = static_cast<double>(ours_faults) / n;
    state.counters["raw_faults"] = static_cast<double>(raw_faults) / n;
}

// ---- save: sync and atomic, so every iteration includes fsync of the file and its folder ----

void BM_SaveLeNet5(benchmark::State& state) {
    LeNetTraining t;
    auto holder = train_network(t.net, t.opt);
    const auto ours_path = scratch() / "save_lenet.ckpt", raw_path = scratch() / "save_lenet.raw";
    save_checkpoint(holder, ours_path);
    const auto bytes = noise(fs::file_size(ours_path));
    interleave(state, bytes.size(), [&] { save_checkpoint(holder, ours_path); },
               [&] { raw_durable_write(raw_path, bytes); });
}
BENCHMARK(BM_SaveLeNet5)->UseManualTime()->Iterations(40)->Unit(benchmark::kMillisecond);

void BM_SaveResNet50(benchmark::State& state) {
    ResNet50Weights w;
    const auto ours_path = scratch() / "save_resnet50.ckpt", raw_path = scratch() / "save_resnet50.raw";
    save_checkpoint(w, ours_path);
    const auto bytes = noise(fs::file_size(ours_path));
    raw_durable_write(raw_path, bytes);  // both files exist, so every timed save replaces one
    state.counters["records"] = static_cast<double>(w.values.size());
    interleave(state, bytes.size(), [&] { save_checkpoint(w, ours_path); },
               [&] { raw_durable_write(raw_path, bytes); });
}
BENCHMARK(BM_SaveResNet50)->UseManualTime()->Iterations(15)->Unit(benchmark::kMillisecond);

// Saves left in the page cache (no fsync), as MindSpore's and PyTorch's saves are: against a raw
// write + rename of the same bytes, no fsync either.
void BM_SaveResNet50PageCache(benchmark::State& state) {
    ResNet50Weights w;
    const auto ours_path = scratch() / "save_resnet50_pc.ckpt", raw_path = scratch() / "save_resnet50_pc.raw";
    const SaveOptions page_cache{.durability = io::Durability::page_cache};
    save_checkpoint(w, ours_path, page_cache);
    const auto bytes = noise(fs::file_size(ours_path));
    raw_durable_write(raw_path, bytes, false);
    interleave(state, bytes.size(), [&] { save_checkpoint(w, ours_path, page_cache); },
               [&] { raw_durable_write(raw_path, bytes, false); });
}
BENCHMARK(BM_SaveResNet50PageCache)->UseManualTime()->Iterations(10)->Unit(benchmark::kMillisecond);

// ---- load: the files were just written, so they are in the page cache: these measure the
// copy and the parse, not the disk ----

const fs::path& lenet_file() {
    static const fs::path path = [] {
        LeNetTraining t;
        auto p = scratch() / "load_lenet.ckpt";
        save_checkpoint(train_network(t.net, t.opt), p);
        return p;
    }();
    return path;
}
const fs::path& resnet_file() {
    static const fs::path path = [] {
        ResNet50Weights w;
        auto p = scratch() / "load_resnet50.ckpt";
        save_checkpoint(w, p);
        return p;
    }();
    return path;
}
const fs::path& load_file(const std::string& which) { return which == "lenet" ? lenet_file() : resnet_file(); }

void read_copy(benchmark::State& state, const std::string& which) {
    const auto& path = load_file(which);
    std::size_t size = 0;
    raw_read(path, size);  // warm: make sure the file is cached
    interleave(state, size, [&] { benchmark::DoNotOptimize(format::ckpt::read(path)); },
               [&] { benchmark::DoNotOptimize(raw_read(path, size)); }, true, /*cold_heap=*/which == "resnet");
}
void BM_ReadLeNet5(benchmark::State& state) { read_copy(state, "lenet"); }
void BM_ReadResNet50(benchmark::State& state) { read_copy(state, "resnet"); }
BENCHMARK(BM_ReadLeNet5)->UseManualTime()->Iterations(400)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadResNet50)->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);

void load_dict(benchmark::State& state, const std::string& which) {
    const auto& path = load_file(which);
    std::size_t size = 0;
    raw_read(path, size);
    interleave(state, size, [&] { benchmark::DoNotOptimize(load_checkpoint(path)); },
               [&] { benchmark::DoNotOptimize(raw_read(path, size)); }, true, /*cold_heap=*/which == "resnet");
}
void BM_LoadCheckpointLeNet5(benchmark::State& state) { load_dict(state, "lenet"); }
void BM_LoadCheckpointResNet50(benchmark::State& state) { load_dict(state, "resnet"); }
BENCHMARK(BM_LoadCheckpointLeNet5)->UseManualTime()->Iterations(400)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadCheckpointResNet50)->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);

// ---- load straight into a network whose parameters exist (a resumed or fine-tuned run): the limit is one
// read() of the same bytes into memory that is already touched ----

std::size_t raw_read_into(const fs::path& path, std::span<std::byte> buf) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + path.string());
    std::size_t done = 0;
    while (done < buf.size()) {
        const ssize_t r = ::read(fd, buf.data() + done, buf.size() - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("read");
        done += static_cast<std::size_t>(r);
    }
    ::close(fd);
    return done;
}

template <class Net>
void load_into(benchmark::State& state, const fs::path& path, Net& net) {
    const auto size = static_cast<std::size_t>(fs::file_size(path));
    std::vector<std::byte> touched(size, std::byte{1});  // the raw read's destination, faulted in once
    raw_read_into(path, touched);
    interleave(state, size, [&] { benchmark::DoNotOptimize(load_param_into_net(net, path)); },
               [&] { benchmark::DoNotOptimize(raw_read_into(path, touched)); });
}
void BM_LoadIntoNetLeNet5(benchmark::State& state) {
    LeNetTraining t;  // the network and its optimizer: every record of the file has a home
    auto holder = train_network(t.net, t.opt);
    load_into(state, lenet_file(), holder);
}
void BM_LoadIntoNetResNet50(benchmark::State& state) {
    ResNet50Weights w;
    load_into(state, resnet_file(), w);
}
BENCHMARK(BM_LoadIntoNetLeNet5)->UseManualTime()->Iterations(400)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadIntoNetResNet50)->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);

// The records in place (views into the file's bytes, no copy per tensor), as format::ckpt::Mapped
// gives them; for a file this small its bytes are read, not mapped.
void BM_MappedLeNet5(benchmark::State& state) {
    const auto& path = lenet_file();
    std::size_t size = 0;
    raw_read(path, size);
    interleave(state, size, [&] { benchmark::DoNotOptimize(format::ckpt::Mapped(path).records().data()); },
               [&] { benchmark::DoNotOptimize(raw_read(path, size)); });
}
BENCHMARK(BM_MappedLeNet5)->UseManualTime()->Iterations(400)->Unit(benchmark::kMillisecond);

// ---- the floor for a reader that returns one fresh std::vector<std::byte> per tensor (TensorRecord's
// storage): one preadv of the whole file, each tensor's bytes into its own vector, headers into a
// scratch buffer, with the layout known in advance (no reader knows it before reading). std::vector
// zero-fills what it allocates; the same into uninitialised new[] buffers shows what that costs. ----

std::vector<std::pair<std::size_t, std::size_t>> layout_of(const fs::path& path) {  // (header bytes, tensor bytes)
    const io::MappedFile file(path);
    const auto contents = format::ckpt::parse(file.bytes(), path);
    std::vector<std::pair<std::size_t, std::size_t>> out;
    std::size_t pos = 0;
    for (const auto& r : contents.records()) {
        const auto at = static_cast<std::size_t>(r.data.data() - file.bytes().data());
        out.emplace_back(at - pos, r.data.size());
        pos = at + r.data.size();
    }
    out.emplace_back(file.bytes().size() - pos, 0);
    return out;
}

// buffer(n) gives each tensor's destination, kept alive by the caller.
template <class Buffer>
void floor_read(const fs::path& path, const std::vector<std::pair<std::size_t, std::size_t>>& layout, Buffer&& buffer) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + path.string());
    struct stat st {};
    ::fstat(fd, &st);
    static std::byte scratch[1 << 16];
    std::vector<iovec> iov;
    std::size_t total = 0;
    for (const auto& [header, tensor] : layout) {
        iov.push_back({scratch, header});
        iov.push_back({buffer(tensor), tensor});
        total += header + tensor;
    }
    if (total != static_cast<std::size_t>(st.st_size) ||
        ::preadv(fd, iov.data(), static_cast<int>(iov.size()), 0) != static_cast<ssize_t>(total))
        die("preadv");
    ::close(fd);
}

// The floor's loop: buffers gets one new buffer per tensor from make(buffers, n), which returns its bytes.
template <class Buffers, class Make>
void floor_bench(benchmark::State& state, Make make) {
    const auto& path = lenet_file();
    const auto layout = layout_of(path);
    std::size_t size = 0;
    raw_read(path, size);
    interleave(state, size,
               [&] {
                   Buffers buffers;
                   buffers.reserve(layout.size());
                   floor_read(path, layout, [&](std::size_t n) { return make(buffers, n); });
                   benchmark::DoNotOptimize(buffers.data());
               },
               [&] { benchmark::DoNotOptimize(raw_read(path, size)); });
}
void BM_FloorLeNet5Vectors(benchmark::State& state) {
    floor_bench<std::vector<std::vector<std::byte>>>(state, [](auto& v, std::size_t n) { return v.emplace_back(n).data(); });
}
void BM_FloorLeNet5Uninitialised(benchmark::State& state) {
    floor_bench<std::vector<std::unique_ptr<std::byte[]>>>(
        state, [](auto& v, std::size_t n) { return v.emplace_back(new std::byte[n]).get(); });
}
BENCHMARK(BM_FloorLeNet5Vectors)->UseManualTime()->Iterations(400)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FloorLeNet5Uninitialised)->UseManualTime()->Iterations(400)->Unit(benchmark::kMillisecond);

// ---- the floor for a reader that keeps aligned, owned tensor storage but, as any real reader, learns the
// layout only as it reads: headers through a 64 KiB window, every tensor 8-byte aligned in one arena (no
// allocation or zero-fill per tensor), a tensor running past the window read by preadv together with the
// next window. It assumes the layout our writer makes and checks nothing. MindSpore puts tensor bytes at
// any offset, so aligned storage means reading around the window or copying out of it. ----

struct ArenaRecord {
    std::string name;
    Shape shape;
    std::span<std::byte> data;
};

std::unique_ptr<std::byte[]> aligned_stream_read(const fs::path& path, std::vector<ArenaRecord>& out) {
    constexpr std::size_t window = std::size_t{64} << 10;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + path.string());
    struct stat st {};
    ::fstat(fd, &st);
    const auto size = static_cast<std::size_t>(st.st_size);
    auto arena = std::make_unique_for_overwrite<std::byte[]>(size + size / 2);  // room for the alignment gaps
    const auto win = std::make_unique_for_overwrite<std::byte[]>(window);
    const auto fill = [&](std::size_t from) {
        const std::size_t n = std::min(window, size - from);
        if (::pread(fd, win.get(), n, static_cast<off_t>(from)) != static_cast<ssize_t>(n)) die("pread");
        return n;
    };
    std::size_t off = 0, len = fill(0), pos = 0;
    std::byte* cursor = arena.get();
    while (pos < size) {  // lenet_file() has no CRC footer
        if (pos + 1024 > off + len && off + len < size) off = pos, len = fill(pos);  // a header may cross the end
        io::WireReader h({win.get() + (pos - off), off + len - pos}, pos);
        ArenaRecord r;
        h.key(), h.varint();                       // Checkpoint.value, its length
        h.key(), r.name = std::string(h.string());
        h.key(), h.varint();                       // TensorProto, its length
        for (auto key = h.key(); key.number == 1; key = h.key()) r.shape.push_back(h.varint());
        static_cast<void>(h.string());             // tensor_type
        h.key();
        const auto n = static_cast<std::size_t>(h.varint()), at = h.offset();
        cursor = reinterpret_cast<std::byte*>((reinterpret_cast<std::uintptr_t>(cursor) + 7) & ~std::uintptr_t{7});
        r.data = {cursor, n};
        cursor += n;
        const std::size_t here = std::min(n, off + len - at);
        std::memcpy(r.data.data(), win.get() + (at - off), here);
        if (here < n) {
            const std::size_t next = at + n, ahead = std::min(window, size - next);
            iovec iov[2] = {{r.data.data() + here, n - here}, {win.get(), ahead}};
            if (::preadv(fd, iov, 2, static_cast<off_t>(at + here)) != static_cast<ssize_t>(n - here + ahead)) die("preadv");
            off = next, len = ahead;
        }
        pos = at + n;
        out.push_back(std::move(r));
    }
    ::close(fd);
    return arena;
}

void BM_FloorLeNet5AlignedStream(benchmark::State& state) {
    const auto& path = lenet_file();
    {
        std::vector<ArenaRecord> check;
        const auto arena = aligned_stream_read(path, check);
        const auto reference = format::ckpt::read(path);
        bool same = check.size() == reference.size();
        for (std::size_t i = 0; same && i < check.size(); ++i)
            same = check[i].name == reference[i].name && std::ranges::equal(check[i].data, reference[i].data);
        if (!same) die("the aligned floor reader disagrees with format::ckpt::read");
    }
    std::size_t size = 0;
    raw_read(path, size);
    interleave(state, size,
               [&] {
                   std::vector<ArenaRecord> records;
                   records.reserve(32);
                   benchmark::DoNotOptimize(aligned_stream_read(path, records).get());
               },
               [&] { benchmark::DoNotOptimize(raw_read(path, size)); });
}
BENCHMARK(BM_FloorLeNet5AlignedStream)->UseManualTime()->Iterations(400)->Unit(benchmark::kMillisecond);

// ---- zero-copy open of a ~1 GiB file: 11 replicas of ResNet50 (2937 records), written once and in
// the page cache. Target: open + parse under 5 ms. The time is page faults on the record headers
// plus decoding them; the raw baseline takes the same faults and decodes nothing. ----

const fs::path& big_file() {
    static const fs::path path = [] {
        const auto schema = resnet50_schema();
        std::size_t largest = 0;
        for (const auto& p : schema) largest = std::max(largest, element_count(p.shape) * 4);
        const auto data = noise(largest);  // every record views a prefix of one buffer
        std::vector<std::string> names;
        std::vector<RecordView> views;
        for (int r = 0; r < 11; ++r)
            for (const auto& p : schema) names.push_back("replica" + std::to_string(r) + "." + p.name);
        std::size_t i = 0;
        for (int r = 0; r < 11; ++r)
            for (const auto& p : schema)
                views.push_back({names[i++], DType::Float32, p.shape,
                                 std::span(data).first(element_count(p.shape) * 4), false});
        const auto out = scratch() / "big_1gib.ckpt";
        format::ckpt::write(out, views);
        return out;
    }();
    return path;
}

void BM_MappedOpen1GiB(benchmark::State& state) {
    const auto& path = big_file();
    std::size_t size = 0;
    raw_read(path, size);  // warm the page cache (and check the file is whole)
    std::vector<std::size_t> starts{0};
    {
        const io::MappedFile file(path);
        const auto contents = format::ckpt::parse(file.bytes(), path);
        for (const auto& r : contents.records())
            starts.push_back(static_cast<std::size_t>(r.data.data() + r.data.size() - file.bytes().data()));
        starts.pop_back();  // the end of the last record is the end of the file
    }
    std::size_t records = 0;
    interleave(state, size,
               [&] {
                   const format::ckpt::Mapped m(path);
                   records = m.records().size();
                   benchmark::DoNotOptimize(records);
               },
               [&] { benchmark::DoNotOptimize(raw_map_touch(path, starts)); }, false);  // bytes/s means nothing here
    state.counters["records"] = static_cast<double>(records);
}
BENCHMARK(BM_MappedOpen1GiB)->UseManualTime()->Iterations(50)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    int rc = 0;
    try {
        benchmark::RunSpecifiedBenchmarks();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_ckpt: %s\n", e.what());
        rc = 1;
    }
    benchmark::Shutdown();
    std::error_code ec;
    fs::remove_all(scratch(), ec);
    return rc;
}
