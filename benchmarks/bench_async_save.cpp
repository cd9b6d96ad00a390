// How long ModelCheckpoint holds up the training thread when saving a ResNet50 in training (network and
// Momentum's state, ~205 MB): with async_save = true (read in place, write in the background) beside a sync save.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "mindsave/mindsave.hpp"

using namespace mindsave;
namespace fs = std::filesystem;
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

// A ResNet50 in training: the network and Momentum's state, as a train checkpoint holds them (~205 MB).
// The gradients are set once; every step then really updates every weight and moment.
struct Training {
    ResNet50<1000> net{1};
    Momentum opt{net, 0.001f, 0.9f};
    Training() {
        visit_parameters(net, [](std::string_view, auto& p) {
            if constexpr (is_parameter<std::remove_cvref_t<decltype(p)>>::value) p.grad.fill(1e-4f);
        });
    }
};
Training& training() {
    static Training t;
    return t;
}

// An optimizer that cannot write aside (a user's own, say): Momentum's step and state behind an interface
// without WritesAside, so ModelCheckpoint copies all of it at each async save, as before.
struct CopiedMomentum {
    Momentum& opt;
    void step() { opt.step(); }
    template <class F>
    void visit_parameters(F&& f) {
        opt.visit_parameters(f);
    }
};
static_assert(WritesAside<Momentum> && !WritesAside<CopiedMomentum>);

template <class Opt>
using Ctx = RunContext<ResNet50<1000>, Opt>;

CheckpointConfig config(bool async) {
    return {.save_checkpoint_steps = 1, .keep_checkpoint_max = 2, .async_save = async};
}

// A run of 1000 steps per epoch, at its start: the hooks move cur_step_num on.
template <class Opt>
Ctx<Opt> context(Opt& opt) {
    Ctx<Opt> ctx{training().net, opt};
    ctx.epoch_num = 1;
    ctx.batch_num = 1000;
    return ctx;
}

// One step as Model::train runs it, minus forward and backward: the optimizer's update, then the step's end
// (every call saves). Returns the update's time.
template <class Opt>
double step(ModelCheckpoint<>& ckpt, Ctx<Opt>& ctx) {
    ++ctx.cur_step_num;
    ctx.cur_epoch_num = (ctx.cur_step_num - 1) / ctx.batch_num + 1;
    ckpt.on_train_step_begin(ctx);
    const auto t0 = Clock::now();
    ctx.optimizer.step();
    const double update = std::chrono::duration<double>(Clock::now() - t0).count();
    ckpt.on_train_step_end(ctx);
    return update;
}

// Momentum's update of every weight and moment, in place and written aside, alternately, with no save
// running: medians of 15 each. What writing aside costs in itself.
double update_in_place_seconds = 0.0, update_aside_seconds = 0.0;
void measure_updates() {
    auto& opt = training().opt;
    opt.reserve_aside_buffers();
    std::vector<double> in_place, aside;
    auto timed = [&](std::vector<double>& into) {
        const auto t0 = Clock::now();
        opt.step();
        into.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    };
    for (int i = 0; i < 16; ++i) {
        timed(in_place);
        opt.write_aside().release();  // no reader: the next update writes aside and never waits
        timed(aside);
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin() + 1, v.end());  // the first of each is a warm-up
        return v[v.size() / 2];
    };
    update_in_place_seconds = median(in_place);
    update_aside_seconds = median(aside);
}

void BM_MomentumUpdate(benchmark::State& state) {
    for (auto _ : state) measure_updates();
    state.counters["update_in_place_ms"] = update_in_place_seconds * 1e3;
    state.counters["update_aside_ms"] = update_aside_seconds * 1e3;
}

// The synchronous save times of this run: the async cases train in proportion to their mean.
double sync_seconds = 0.0;

// Synchronous saves: the training thread is held up by the whole write (encode, write, fsync, rename).
void BM_SyncSave(benchmark::State& state) {
    Ctx<Momentum> ctx = context(training().opt);
    ModelCheckpoint<> ckpt("sync", scratch(), config(false));
    step(ckpt, ctx);  // warm-up: the page cache and the file system settle on the file size
    double total = 0.0, worst = 0.0, updates = 0.0;
    for (auto _ : state) {
        updates += step(ckpt, ctx);
        const double s = std::chrono::duration<double>(ckpt.stats().last_blocked).count();
        state.SetIterationTime(s);
        total += s;
        worst = std::max(worst, s);
    }
    ckpt.on_train_end(ctx);
    const double n = static_cast<double>(state.iterations());
    sync_seconds = total / n;
    state.counters["file_MB"] = static_cast<double>(fs::file_size(ckpt.latest_ckpt_file_name())) / 1e6;
    state.counters["sync_ms"] = sync_seconds * 1e3;
    state.counters["blocked_mean_ms"] = sync_seconds * 1e3;
    state.counters["blocked_max_ms"] = worst * 1e3;
    state.counters["update_ms"] = updates / n * 1e3;  // Momentum's update in place
}

// Async saves: the training thread is held up by what the save copies (with Momentum writing aside: the
// BatchNorm statistics and three scalars; with CopiedMomentum: everything), and by a wait when the previous
// writer has not yet handed all its bytes to the kernel (its fsync, rename and retention run on). The
// training between saves is Momentum's update of every weight and moment plus a sleep, together range(0)
// percent of the mean sync save: at 100 the previous file is often not durable yet when the next save
// comes, at 200 it is. The update right after a save writes aside; its time is reported beside the
// update in place, so a cost moved from the save into training would show.
template <class Opt>
void async_save(benchmark::State& state, Opt& opt) {
    if (sync_seconds == 0.0) {  // run alone (--benchmark_filter): measure a sync save here
        Ctx<Momentum> ctx = context(training().opt);
        ModelCheckpoint<> sync("sync", scratch(), config(false));
        step(sync, ctx);
        step(sync, ctx);
        sync_seconds = std::chrono::duration<double>(sync.stats().last_blocked).count();
    }
    const auto between = std::chrono::duration<double>(sync_seconds * static_cast<double>(state.range(0)) / 100.0);
    Ctx<Opt> ctx = context(opt);
    ModelCheckpoint<> ckpt("async" + std::to_string(state.range(0)), scratch(), config(true));
    auto train = [&](double update_s) {  // the rest of the training between two saves
        std::this_thread::sleep_for(between - std::chrono::duration<double>(update_s));
    };
    // The reference: the same training with no save, 8 intervals, each an update then the sleep.
    double update_no_save = 0.0;
    for (int i = 0; i < 8; ++i) {
        const auto t0 = Clock::now();
        opt.step();
        const double u = std::chrono::duration<double>(Clock::now() - t0).count();
        update_no_save += u / 8;
        train(u);
    }
    ckpt.on_train_begin(ctx);  // as Model::train: buffers are faulted in, in the background
    train(0.0);                // the steps before the first save
    const long faults0 = minor_faults();
    train(step(ckpt, ctx));  // the first save: reported on its own
    const double first_ms = ms(ckpt.stats().last_blocked);
    const long first_faults = minor_faults() - faults0;

    double total = 0.0, worst = 0.0, updates = 0.0;
    long faults = 0, pending = 0;
    for (auto _ : state) {
        // the file appears at the rename: absent, the previous write is still under way
        pending += !fs::exists(ckpt.latest_ckpt_file_name());
        const long f0 = minor_faults();
        const double update = step(ckpt, ctx);  // the update writes aside: the last save is read meanwhile
        faults += minor_faults() - f0;
        const double s = std::chrono::duration<double>(ckpt.stats().last_blocked).count();
        state.SetIterationTime(s);
        total += s;
        updates += update;
        worst = std::max(worst, s);
        train(update);  // "training" while the writer works
    }
    ckpt.on_train_end(ctx);  // waits for the last write
    const double n = static_cast<double>(state.iterations());

    // The floors of a snapshot: one memcpy into buffers already faulted in, of the network's parameters,
    // and of everything the file holds (the parameters and Momentum's state).
    auto memcpy_ms_of = [](auto&& holder) {
        std::vector<std::span<const std::byte>> from;
        std::vector<std::vector<std::byte>> to;
        visit_parameters(holder, [&](std::string_view, auto& p) {
            from.push_back(view_of(p).bytes);
            to.emplace_back(from.back().size());
        });
        auto copy_all = [&] {
            for (std::size_t i = 0; i < to.size(); ++i) std::memcpy(to[i].data(), from[i].data(), to[i].size());
        };
        copy_all();
        const auto t0 = Clock::now();
        copy_all();
        return ms(Clock::now() - t0);
    };
    const double memcpy_ms = memcpy_ms_of(training().net);
    const double memcpy_all_ms = memcpy_ms_of(train_network(training().net, opt));

    state.counters["training_ms"] = std::chrono::duration<double, std::milli>(between).count();
    state.counters["sync_ms"] = sync_seconds * 1e3;
    state.counters["blocked_mean_ms"] = total / n * 1e3;
    state.counters["blocked_max_ms"] = worst * 1e3;  // steady state: the first save is apart
    state.counters["first_save_ms"] = first_ms;
    state.counters["first_save_faults"] = static_cast<double>(first_faults);
    state.counters["faults"] = static_cast<double>(faults) / n;
    state.counters["write_pending"] = static_cast<double>(pending);  // saves made while the last write ran
    state.counters["memcpy_ms"] = memcpy_ms;
    state.counters["memcpy_all_ms"] = memcpy_all_ms;
    state.counters["copied_MB"] = static_cast<double>(ckpt.stats().last_copied_bytes) / 1e6;
    state.counters["in_place_MB"] = static_cast<double>(ckpt.stats().last_in_place_bytes) / 1e6;
    // What the save costs training in all: its blocked time, and what the update after it takes beyond
    // the update of the same training without saves (writing aside, a writer beside it), when longer.
    const double extra_update = std::max(0.0, updates / n - update_no_save);
    const double held = total / n + extra_update;
    state.counters["update_ms"] = updates / n * 1e3;  // the update after each save
    state.counters["update_no_save_ms"] = update_no_save * 1e3;  // the same training without saves
    state.counters["held_ms"] = held * 1e3;
    state.counters["ratio"] = held / sync_seconds;  // held / sync_time
    state.counters["ratio_max"] = (worst + extra_update) / sync_seconds;
    state.counters["first_ratio"] = first_ms / 1e3 / sync_seconds;
    state.counters["memcpy_ratio"] = held * 1e3 / memcpy_ms;  // held / memcpy of the parameters
    state.counters["memcpy_all_ratio"] = held * 1e3 / memcpy_all_ms;  // held / memcpy of the file's tensors
}

void BM_AsyncSave(benchmark::State& state) { async_save(state, training().opt); }
void BM_AsyncSaveCopying(benchmark::State& state) {
    CopiedMomentum opt{training().opt};
    async_save(state, opt);
}

}  // namespace

BENCHMARK(BM_SyncSave)->UseManualTime()->Iterations(6)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AsyncSave)->Arg(100)->Arg(200)->UseManualTime()->Iterations(8)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AsyncSaveCopying)->Arg(100)->Arg(200)->UseManualTime()->Iterations(8)->Unit(benchmark::kMillisecond);
// last: it reserves Momentum's second buffers, which the async runs reserve (and time) themselves
BENCHMARK(BM_MomentumUpdate)->Iterations(1)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
