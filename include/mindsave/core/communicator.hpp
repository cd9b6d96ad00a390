// The processes that train one model together: the Communicator concept (rank, size, allreduce,
// broadcast, allgather, barrier), SingleProcess (the default: one process, nothing to exchange), and
// MindSpore's get_rank() / get_group_size() for the group this process trains in.
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "mindsave/core/errors.hpp"

namespace mindsave {

// A group of processes. Collectives are called by every rank in the same order; allgather gathers one
// equal-sized piece per rank into `all`, in rank order. mpi::Communicator (distributed/mpi.hpp) is one.
template <class C>
concept Communicator = requires(C& c, std::span<float> f, std::span<double> d, std::span<std::byte> bytes,
                                std::span<const std::byte> piece) {
    { c.rank() } -> std::convertible_to<int>;
    { c.size() } -> std::convertible_to<int>;
    c.allreduce_sum(f);
    c.allreduce_sum(d);
    c.broadcast(bytes, 0);
    c.allgather(piece, bytes);
    c.barrier();
};

// One process: rank 0 of 1. Reductions and broadcasts leave the data as it is.
class SingleProcess {
public:
    int rank() const noexcept { return 0; }
    int size() const noexcept { return 1; }
    void allreduce_sum(std::span<float>) noexcept {}
    void allreduce_sum(std::span<double>) noexcept {}
    void broadcast(std::span<std::byte>, int) noexcept {}
    void allgather(std::span<const std::byte> piece, std::span<std::byte> all) {
        if (all.size() != piece.size()) throw ShapeError("allgather: the output must hold size() pieces");
        std::copy(piece.begin(), piece.end(), all.begin());
    }
    void barrier() noexcept {}
};
static_assert(Communicator<SingleProcess>);

// Every rank's string, in rank order (two allgathers: the lengths, then the padded bytes).
template <Communicator C>
std::vector<std::string> allgather_strings(C& comm, const std::string& mine) {
    const auto n = static_cast<std::size_t>(comm.size());
    const std::uint64_t length = mine.size();
    std::vector<std::uint64_t> lengths(n);
    comm.allgather(std::as_bytes(std::span(&length, 1)), std::as_writable_bytes(std::span(lengths)));
    const std::size_t longest = *std::max_element(lengths.begin(), lengths.end());
    std::vector<std::byte> piece(longest), all(longest * n);
    std::memcpy(piece.data(), mine.data(), mine.size());
    comm.allgather(piece, all);
    std::vector<std::string> out(n);
    for (std::size_t r = 0; r < n; ++r)
        out[r].assign(reinterpret_cast<const char*>(all.data() + r * longest), static_cast<std::size_t>(lengths[r]));
    return out;
}

namespace detail {
inline std::atomic<int> group_rank{0}, group_size{1};
}  // namespace detail

// MindSpore's get_rank() and get_group_size(): this process's place in its training group (0 and 1
// until mpi::init() or Model::set_data_parallel says otherwise). Callbacks print on rank 0 only.
inline int get_rank() noexcept { return detail::group_rank.load(std::memory_order_relaxed); }
inline int get_group_size() noexcept { return detail::group_size.load(std::memory_order_relaxed); }

// Records comm as the process's training group, for get_rank() and get_group_size().
template <Communicator C>
void set_group(const C& comm) noexcept {
    detail::group_rank.store(static_cast<int>(comm.rank()), std::memory_order_relaxed);
    detail::group_size.store(static_cast<int>(comm.size()), std::memory_order_relaxed);
}

}  // namespace mindsave
