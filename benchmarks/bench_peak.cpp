// This machine's physical limits, measured in the same run as the library: the FMA peak (GFLOP/s of
// xsimd FMA chains, 1 and 2 threads) and memcpy bandwidth of a buffer far larger than the caches.
#include <benchmark/benchmark.h>

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Batch = xsimd::batch<float>;

// Independent accumulators: each FMA waits for its own chain only, so with at least
// latency x pipes of them (4 x 2 on current x86 cores) the FMA units never stall.
constexpr std::size_t kChains = 16;
// FMAs per chain per call: about 10 ms at 100 GFLOP/s, so starting threads costs nothing.
constexpr std::int64_t kSteps = 1 << 22;

template <std::size_t... I>
float fma_chains(float seed, std::index_sequence<I...>) {
    // x <- x * m + c converges to c / (1 - m): the values stay normal and bounded however long it runs.
    const Batch m(0.999999f), c(1e-6f);
    Batch acc[kChains] = {Batch(seed + static_cast<float>(I))...};
    // without -ffast-math the compiler may not fold the chains: every FMA runs, in registers
    for (std::int64_t s = 0; s < kSteps; ++s) ((acc[I] = xsimd::fma(acc[I], m, c)), ...);
    Batch sum = (acc[I] + ...);
    return xsimd::hadd(sum);
}

double flops_per_call() { return 2.0 * static_cast<double>(kSteps) * kChains * Batch::size; }

// Runs f(thread index) on `threads` threads (the calling one included) and waits for all of them.
template <class F>
void on_threads(int threads, F&& f) {
    std::vector<std::thread> extra;
    for (int t = 1; t < threads; ++t) extra.emplace_back(f, t);
    f(0);
    for (auto& t : extra) t.join();
}

// FMA peak: every thread runs its own chains; GFLOPS counts multiplies and adds (2 per lane per FMA).
void BM_FmaPeak(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    std::vector<float> sink(static_cast<std::size_t>(threads));
    for (auto _ : state) {
        on_threads(threads, [&](int t) {
            sink[static_cast<std::size_t>(t)] = fma_chains(static_cast<float>(t), std::make_index_sequence<kChains>{});
        });
        benchmark::DoNotOptimize(sink.data());
    }
    const double flops = flops_per_call() * threads * static_cast<double>(state.iterations());
    state.counters["GFLOPS"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsRate);
    state.counters["lanes"] = static_cast<double>(Batch::size);
    state.counters["chains"] = static_cast<double>(kChains);
}
BENCHMARK(BM_FmaPeak)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// memcpy of range(0) MiB split over range(1) threads, into a buffer already faulted in: the raw
// copy limit (bytes/s counts bytes copied once, as a snapshot or a copying load would).
void BM_Memcpy(benchmark::State& state) {
    const auto bytes = static_cast<std::size_t>(state.range(0)) << 20;
    const int threads = static_cast<int>(state.range(1));
    // one pair of buffers for every run and repetition: faulting them in costs more than the copies
    static std::size_t size = 0;
    static std::unique_ptr<char[]> src, dst;
    if (size != bytes) {
        src.reset(new char[bytes]);
        dst.reset(new char[bytes]);
        std::memset(src.get(), 1, bytes);
        std::memset(dst.get(), 2, bytes);
        size = bytes;
    }
    const std::size_t share = bytes / static_cast<std::size_t>(threads);
    for (auto _ : state) {
        on_threads(threads, [&](int t) {
            const std::size_t off = share * static_cast<std::size_t>(t);
            std::memcpy(dst.get() + off, src.get() + off, t + 1 == threads ? bytes - off : share);
        });
        benchmark::DoNotOptimize(dst.get());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
}
BENCHMARK(BM_Memcpy)->Args({256, 1})->Args({256, 2})->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
