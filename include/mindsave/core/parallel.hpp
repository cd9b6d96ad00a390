// The library's thread pool: kernels split a range over a fixed number of threads (statically, so a
// fixed seed and thread count give bit-identical results) and the calling thread takes the first part.
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "mindsave/core/errors.hpp"

namespace mindsave {

namespace detail {

// A spin-wait hint (x86's pause); elsewhere a compiler barrier keeps the loop honest.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    asm volatile("" ::: "memory");
#endif
}

inline constexpr std::size_t max_threads = 1024;

// MINDSAVE_NUM_THREADS's value as a thread count: a whole number from 1 to max_threads, else ConfigError
// (a typo must not quietly run on another thread count than the one asked for).
inline std::size_t threads_from_env(std::string_view value) {
    std::size_t v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc{} || end != value.data() + value.size() || v == 0 || v > max_threads)
        throw ConfigError("MINDSAVE_NUM_THREADS='" + std::string(value) + "' is not a thread count: set it to a whole number from 1 to " +
                          std::to_string(max_threads) + " (or unset it to use every core)");
    return v;
}

// The threads a fresh process uses: MINDSAVE_NUM_THREADS when set, else the cores.
inline std::size_t default_num_threads() {
    if (const char* env = std::getenv("MINDSAVE_NUM_THREADS")) return threads_from_env(env);
    return std::max(1u, std::thread::hardware_concurrency());
}

// The parts parallel_for splits [0, n) into on `threads` threads; parallel_parts tells callers the same.
inline std::size_t part_count(std::size_t n, std::size_t grain, std::size_t max_parts, std::size_t threads) noexcept {
    if (n == 0) return 1;
    const std::size_t by_grain = std::max<std::size_t>(1, n / std::max<std::size_t>(grain, 1));
    return std::min({threads, by_grain, max_parts, n, std::size_t{0xffff}});
}

// threads - 1 workers, woken by a generation counter. A worker spins briefly after each job (the
// next layer's job usually follows within microseconds), then sleeps on a condition variable.
// Parts are fixed by the caller; whichever thread is free claims the next one, so a worker the OS
// has descheduled (a busy machine) never holds the caller up: it takes the parts itself. Results
// depend on the parts, never on which thread ran them.
class ThreadPool {
public:
    using Task = void (*)(void* context, std::size_t part);

    explicit ThreadPool(std::size_t threads) : threads_(std::max<std::size_t>(threads, 1)) {
        workers_.reserve(threads_ - 1);
        for (std::size_t i = 1; i < threads_; ++i) workers_.emplace_back([this] { work(); });
    }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;
    ~ThreadPool() {
        {
            std::lock_guard lock(mutex_);
            stop_.store(true);
            generation_.fetch_add(1);
        }
        wake_.notify_all();
        for (auto& w : workers_) w.join();
    }

    std::size_t size() const noexcept { return threads_; }

    // Runs task(context, p) for every part p in [0, parts) and returns when all are done.
    // Another job already running (a second user thread, or a nested call) runs everything here instead.
    void run(std::size_t parts, Task task, void* context) {
        std::unique_lock busy(busy_, std::try_to_lock);
        if (parts <= 1 || threads_ <= 1 || !busy.owns_lock() || inside_job()) {
            for (std::size_t p = 0; p < parts; ++p) task(context, p);
            return;
        }
        task_ = task;
        context_ = context;
        done_.store(0, std::memory_order_relaxed);
        const std::uint64_t g = generation_.load(std::memory_order_relaxed) + 1;
        claim_.store((g & 0xffffffff) << 32 | static_cast<std::uint64_t>(parts) << 16);  // publishes task_ and context_
        generation_.store(g);  // seq_cst: pairs with the sleeper count below
        if (sleepers_.load() > 0) {
            { std::lock_guard lock(mutex_); }  // a worker between its check and its wait holds the mutex
            wake_.notify_all();
        }
        inside_job() = true;
        take_parts(g & 0xffffffff);
        inside_job() = false;
        for (unsigned spins = 0; done_.load(std::memory_order_acquire) != parts; ++spins) {
            if (spins < 4096) cpu_relax();
            else std::this_thread::yield();  // a part is running on a thread the OS has paused
        }
    }

private:
    static bool& inside_job() noexcept {
        thread_local bool inside = false;
        return inside;
    }

    // Claims and runs parts of job g until none are left. claim_ packs generation, part count and next part.
    void take_parts(std::uint64_t g) {
        std::uint64_t word = claim_.load(std::memory_order_acquire);
        for (;;) {
            const std::uint64_t parts = (word >> 16) & 0xffff, next = word & 0xffff;
            if ((word >> 32) != g || next >= parts) return;
            if (!claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel)) continue;
            task_(context_, static_cast<std::size_t>(next));
            done_.fetch_add(1, std::memory_order_acq_rel);
            word = claim_.load(std::memory_order_acquire);
        }
    }

    void work() {
        inside_job() = true;
        std::uint64_t seen = 0;
        for (;;) {
            std::uint64_t g = generation_.load(std::memory_order_acquire);
            if (g == seen) {
                // ~100 us of spinning, then sleep
                const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
                for (unsigned i = 1; (g = generation_.load(std::memory_order_acquire)) == seen; ++i) {
                    cpu_relax();
                    if (i % 64 == 0 && std::chrono::steady_clock::now() > until) break;
                }
            }
            if (g == seen) {
                std::unique_lock lock(mutex_);
                sleepers_.fetch_add(1);
                while ((g = generation_.load()) == seen) wake_.wait(lock);
                sleepers_.fetch_sub(1);
            }
            seen = g;
            if (stop_.load()) return;
            take_parts(g & 0xffffffff);
        }
    }

    std::size_t threads_;
    std::vector<std::thread> workers_;
    std::mutex busy_;   // held by the thread whose job runs
    std::mutex mutex_;  // guards sleeping
    std::condition_variable wake_;
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::uint64_t> claim_{0};
    std::atomic<std::size_t> done_{0};
    std::atomic<std::size_t> sleepers_{0};
    std::atomic<bool> stop_{false};
    Task task_ = nullptr;
    void* context_ = nullptr;
};

struct PoolHolder {
    std::mutex mutex;
    std::size_t threads = default_num_threads();
    std::unique_ptr<ThreadPool> pool;  // started on first use
};
inline PoolHolder& pool_holder() {
    static PoolHolder holder;
    return holder;
}
inline ThreadPool& pool() {
    auto& h = pool_holder();
    std::lock_guard lock(h.mutex);
    if (!h.pool || h.pool->size() != h.threads) {
        h.pool.reset();
        h.pool = std::make_unique<ThreadPool>(h.threads);
    }
    return *h.pool;
}

}  // namespace detail

// Threads the kernels use (the calling thread included). Call it between steps, not during one.
inline void set_num_threads(std::size_t n) {
    auto& h = detail::pool_holder();
    std::lock_guard lock(h.mutex);
    h.threads = std::max<std::size_t>(n, 1);
}
inline std::size_t num_threads() {
    auto& h = detail::pool_holder();
    std::lock_guard lock(h.mutex);
    return h.threads;
}

// The part of [0, n) that thread t of T takes: contiguous, sizes differing by at most one.
struct Range {
    std::size_t begin = 0, end = 0;
};
inline Range partition(std::size_t n, std::size_t t, std::size_t T) noexcept {
    return {n * t / T, n * (t + 1) / T};
}

// Splits [0, n) into min(num_threads(), max_parts) contiguous parts (at least `grain` items each
// when n allows) and calls f(begin, end, part) for each, in parallel. The split depends only on n,
// grain, max_parts and the thread count; index per-part buffers by `part`. Allocates nothing.
template <class F>
void parallel_for(std::size_t n, F&& f, std::size_t grain = 1, std::size_t max_parts = static_cast<std::size_t>(-1)) {
    if (n == 0) return;
    auto& pool = detail::pool();
    const std::size_t parts = detail::part_count(n, grain, max_parts, pool.size());
    if (parts == 1) {
        f(std::size_t{0}, n, std::size_t{0});
        return;
    }
    struct Job {
        std::remove_reference_t<F>* f;
        std::size_t n, parts;
    } job{&f, n, parts};
    pool.run(parts, [](void* context, std::size_t t) {
        auto& j = *static_cast<Job*>(context);
        const Range r = partition(j.n, t, j.parts);
        (*j.f)(r.begin, r.end, t);
    }, &job);
}

// How many parts parallel_for(n, f, grain, max_parts) will use: size per-thread buffers with it.
inline std::size_t parallel_parts(std::size_t n, std::size_t grain = 1,
                                  std::size_t max_parts = static_cast<std::size_t>(-1)) {
    return detail::part_count(n, grain, max_parts, num_threads());
}

}  // namespace mindsave
