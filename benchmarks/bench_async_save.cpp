// How long ModelCheckpoint holds up the training thread when saving a ResNet50-size parameter set
// (~100 MB): with async_save = true (snapshot, write in the background) beside a synchronous save.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "mindsave/mindsave.hpp"
#include "resnet50_weights.hpp"

using namespace mindsave;
namespace fs = std::filesystem;
using mindsave::bench::ResNet50Weights;
using Clock = std::chrono::steady_clock;

namespace {

// Files live in a scratch folder under $TMPDIR (or /tmp), removed at exit.
struct Scratch {
    fs::path dir;
    Scratch() {
        const char* tmp = std::getenv("TMPDIR");
        dir = fs::path(tmp && *tmp ? tmp : "/tmp") / ("mindsave_bench_async_" + std::to_string(::getpid()));
        fs::create_directories(dir);
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};
const fs::path& scratch() {
    static const Scratch s;
    return s.dir;
}

double ms(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

long minor_faults() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

// The optimizer RunContext needs, with no state: only the network's parameters are saved.
struct Stateless {
    template <class F>
    void visit_parameters(F&&) {}
    void step() {}
};

ResNet50Weights& weights() {
    static ResNet50Weights w;
    return w;
}

using Ctx = RunContext<ResNet50Weights, Stateless>;

CheckpointConfig config(bool async) {
    return {.save_checkpoint_steps = 1, .keep_checkpoint_max = 2, .async_save = async};
}

// A run of 1000 steps per epoch, at its start: the hooks move cur_step_num on.
Ctx context(Stateless& opt) {
    Ctx ctx{weights(), opt};
    ctx.epoch_num = 1;
    ctx.batch_num = 1000;
    return ctx;
}

// One step's end as Model::train calls it; the step counter moves on, so every call saves.
void end_step(ModelCheckpoint<>& ckpt, Ctx& ctx) {
    ++ctx.cur_step_num;
    ctx.cur_epoch_num = (ctx.cur_step_num - 1) / ctx.batch_num + 1;
    ckpt.on_train_step_begin(ctx);
    ckpt.on_train_step_end(ctx);
}

// The synchronous save times of this run: the async case sleeps in proportion to their mean.
double sync_seconds = 0.0;

// Synchronous saves: the training thread is held up by the whole write (encode, write, fsync, rename).
void BM_SyncSave(benchmark::State& state) {
    Stateless opt;
    Ctx ctx = context(opt);
    ModelCheckpoint<> ckpt("sync", scratch(), config(false));
    end_step(ckpt, ctx);  // warm-up: the page cache and the file system settle on the file size
    double total = 0.0, worst = 0.0;
    for (auto _ : state) {
        end_step(ckpt, ctx);
        const double s = std::chrono::duration<double>(ckpt.stats().last_blocked).count();
        state.SetIterationTime(s);
        total += s;
        worst = std::max(worst, s);
    }
    ckpt.on_train_end(ctx);
    sync_seconds = total / static_cast<double>(state.iterations());
    state.counters["file_MB"] = static_cast<double>(fs::file_size(ckpt.latest_ckpt_file_name())) / 1e6;
    state.counters["sync_ms"] = sync_seconds * 1e3;
    state.counters["blocked_mean_ms"] = sync_seconds * 1e3;
    state.counters["blocked_max_ms"] = worst * 1e3;
}

// Async saves: the training thread is held up by the snapshot, and by a wait when the previous
// writer has not yet handed all its bytes to the kernel (its fsync, rename and retention run on).
// The training work between saves is simulated by a sleep of range(0) percent of the mean sync
// save: at 100 the previous file is often not durable yet when the next save comes, at 200 it is.
void BM_AsyncSave(benchmark::State& state) {
    if (sync_seconds == 0.0) {  // run alone (--benchmark_filter): measure a sync save here
        Stateless opt;
        Ctx ctx = context(opt);
        ModelCheckpoint<> sync("sync", scratch(), config(false));
        end_step(sync, ctx);
        end_step(sync, ctx);
        sync_seconds = std::chrono::duration<double>(sync.stats().last_blocked).count();
    }
    const auto training = std::chrono::duration<double>(sync_seconds * static_cast<double>(state.range(0)) / 100.0);
    Stateless opt;
    Ctx ctx = context(opt);
    ModelCheckpoint<> ckpt("async" + std::to_string(state.range(0)), scratch(), config(true));
    ckpt.on_train_begin(ctx);  // as Model::train: the snapshot buffers are faulted in, in the background
    std::this_thread::sleep_for(training);  // the steps before the first save
    const long faults0 = minor_faults();
    end_step(ckpt, ctx);  // the first save: reported on its own
    const double first_ms = ms(ckpt.stats().last_blocked);
    const long first_faults = minor_faults() - faults0;
    std::this_thread::sleep_for(training);

    double total = 0.0, worst = 0.0;
    long faults = 0, pending = 0;
    for (auto _ : state) {
        // the file appears at the rename: absent, the previous write is still under way
        pending += !fs::exists(ckpt.latest_ckpt_file_name());
        const long f0 = minor_faults();
        end_step(ckpt, ctx);
        faults += minor_faults() - f0;
        const double s = std::chrono::duration<double>(ckpt.stats().last_blocked).count();
        state.SetIterationTime(s);
        total += s;
        worst = std::max(worst, s);
        std::this_thread::sleep_for(training);  // "training" while the writer works
    }
    ckpt.on_train_end(ctx);  // waits for the last write
    const double n = static_cast<double>(state.iterations());

    // The floor for a snapshot: one memcpy of every parameter into buffers already faulted in.
    std::vector<std::vector<std::byte>> copies;
    for (const auto& v : weights().values) copies.emplace_back(v.size() * sizeof(float));
    auto copy_all = [&] {
        for (std::size_t i = 0; i < copies.size(); ++i)
            std::memcpy(copies[i].data(), weights().values[i].data(), copies[i].size());
    };
    copy_all();
    const auto t0 = Clock::now();
    copy_all();
    const double memcpy_ms = ms(Clock::now() - t0);

    state.counters["training_ms"] = std::chrono::duration<double, std::milli>(training).count();
    state.counters["sync_ms"] = sync_seconds * 1e3;
    state.counters["blocked_mean_ms"] = total / n * 1e3;
    state.counters["blocked_max_ms"] = worst * 1e3;  // steady state: the first save is apart
    state.counters["first_save_ms"] = first_ms;
    state.counters["first_save_faults"] = static_cast<double>(first_faults);
    state.counters["faults"] = static_cast<double>(faults) / n;
    state.counters["write_pending"] = static_cast<double>(pending);  // saves made while the last write ran
    state.counters["memcpy_ms"] = memcpy_ms;
    state.counters["ratio"] = total / n / sync_seconds;  // blocked_async / sync_time: target <= 0.10
    state.counters["ratio_max"] = worst / sync_seconds;
    state.counters["first_ratio"] = first_ms / 1e3 / sync_seconds;
}

}  // namespace

BENCHMARK(BM_SyncSave)->UseManualTime()->Iterations(6)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AsyncSave)->Arg(100)->Arg(200)->UseManualTime()->Iterations(8)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
