// A large file read into fresh records from its load plan (headers first, bytes after): every kept tensor's
// bytes in one arena of huge pages, faulted in and read on every thread of the pool, straight from the file.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "mindsave/core/parallel.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/core/record_arena.hpp"
#include "mindsave/core/record_plan.hpp"

namespace mindsave::format::detail {

// Files from this size on are read through their plan into an arena. Measured here (ckpt, 16 tensors, a
// throwaway harness): 1 MiB in 0.12-0.16 ms this way, 0.63-1.1 ms through the window into heap records
// whose pages glibc had given back; at 0.25 MiB the window was faster. LeNet5's 0.5 MiB stays on the window.
inline constexpr std::size_t planned_read_min_bytes = std::size_t{1} << 20;

// plan.read(jobs) split by bytes over the pool's threads, at least 1 MiB per part, so a large load copies on
// every core (a small one stays on the calling thread). prepare(i) runs on the part's thread just before its
// read and may set jobs[i].dest (read_planned allocates there). An error is the first one raised. plan.read
// must be safe to call from several threads at once (record_plan.hpp).
template <class Plan, class Job, class Prepare>
void read_in_parallel(const Plan& plan, std::span<Job> jobs, Prepare&& prepare) {
    const auto& headers = plan.headers();
    std::vector<std::size_t> starts(jobs.size() + 1, 0);  // bytes before each job
    for (std::size_t i = 0; i < jobs.size(); ++i) starts[i + 1] = starts[i] + headers[jobs[i].record].bytes;
    const std::size_t total = starts.back(), grain = std::size_t{1} << 20;
    std::mutex failed;
    std::exception_ptr error;
    // part p takes the jobs whose first byte falls in its share (jobs of no bytes at the very end: the last part)
    const auto run = [&](std::size_t begin, std::size_t end, std::size_t) {
        const auto first = static_cast<std::size_t>(std::lower_bound(starts.begin(), starts.end() - 1, begin) - starts.begin());
        const auto last = end == total ? jobs.size()
                                       : static_cast<std::size_t>(std::lower_bound(starts.begin(), starts.end() - 1, end) - starts.begin());
        try {
            for (std::size_t i = first; i < last; ++i) prepare(i);
            if (last > first) plan.read(std::span<const ReadJob>(jobs.subspan(first, last - first)));
        } catch (...) {
            const std::lock_guard lock(failed);
            if (!error) error = std::current_exception();
        }
    };
    if (total == 0) run(0, 0, 0);
    else parallel_for(total, run, grain);
    if (error) std::rethrow_exception(error);
}
template <class Plan>
void read_in_parallel(const Plan& plan, std::span<const ReadJob> jobs) {
    read_in_parallel(plan, jobs, [](std::size_t) {});
}

// The records of plan (anything with headers() and read(jobs), callable from several threads at once) that
// keep(name) accepts, in the plan's order, their tensors' bytes in one arena. Each part of the records
// (read_in_parallel) is allocated on the thread that reads it: its pages fault in there, and the read that
// follows fills them while they are still in that core's cache.
template <class Plan, class Keep>
std::vector<TensorRecord> read_planned(const Plan& plan, Keep&& keep) {
    const auto& headers = plan.headers();
    std::vector<TensorRecord> out;
    std::vector<ReadJob> jobs;
    std::size_t arena_bytes = 0;
    for (std::size_t i = 0; i < headers.size(); ++i) {
        const auto& h = headers[i];
        if (!keep(std::string_view(h.name))) continue;
        auto& r = out.emplace_back();
        r.name = h.name;
        r.dtype = h.dtype;
        r.shape = h.shape;
        jobs.push_back({i, {}});
        if (!h.is_string) arena_bytes += h.bytes + mindsave::detail::RecordArena::alignment;
    }
    const RecordAllocator<std::byte> allocator(arena_bytes ? mindsave::detail::RecordArena::make(arena_bytes) : nullptr);
    std::vector<RecordBytes> text(out.size());  // a string record's UTF-32 bytes, decoded at the end
    read_in_parallel(plan, std::span(jobs), [&](std::size_t k) {
        const auto& h = headers[jobs[k].record];
        auto& bytes = h.is_string ? text[k] : out[k].data;
        bytes = RecordBytes(h.bytes, h.is_string ? RecordAllocator<std::byte>() : allocator);
        jobs[k].dest = bytes;
    });
    for (std::size_t k = 0; k < out.size(); ++k)
        if (headers[jobs[k].record].is_string) out[k].text = mindsave::detail::utf32le_to_utf8(text[k]);
    return out;
}

}  // namespace mindsave::format::detail
