// The processes that train one model together: the Communicator concept (rank, size, allreduce,
// broadcast, allgather, barrier), SingleProcess (the default: one process, nothing to exchange),
// CommunicatorRef (any of them behind one type, for callbacks), and MindSpore's get_rank() / get_group_size().
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

// root's string on every rank (two broadcasts: the length, then the bytes).
template <Communicator C>
std::string broadcast_string(C& comm, std::string s, int root) {
    std::uint64_t length = s.size();
    comm.broadcast(std::as_writable_bytes(std::span(&length, 1)), root);
    s.resize(static_cast<std::size_t>(length));
    comm.broadcast(std::as_writable_bytes(std::span(s.data(), s.size())), root);
    return s;
}

// A Communicator of any type behind one type: what a RunContext hands its callbacks (ModelCheckpoint
// commits through it). It refers to the communicator, which must outlive it; empty means one process.
class CommunicatorRef {
public:
    CommunicatorRef() = default;
    template <Communicator C>
        requires(!std::same_as<C, CommunicatorRef>)
    explicit CommunicatorRef(C& comm) noexcept : self_(&comm), ops_(&ops_for<C>) {}

    explicit operator bool() const noexcept { return self_ != nullptr; }
    int rank() const { return self_ ? ops_->rank(self_) : 0; }
    int size() const { return self_ ? ops_->size(self_) : 1; }
    void allreduce_sum(std::span<float> v) { if (self_) ops_->sum_f(self_, v); }
    void allreduce_sum(std::span<double> v) { if (self_) ops_->sum_d(self_, v); }
    void broadcast(std::span<std::byte> bytes, int root) { if (self_) ops_->broadcast(self_, bytes, root); }
    void allgather(std::span<const std::byte> piece, std::span<std::byte> all) {
        if (self_) ops_->allgather(self_, piece, all);
        else SingleProcess{}.allgather(piece, all);
    }
    void barrier() { if (self_) ops_->barrier(self_); }

private:
    struct Ops {
        int (*rank)(void*);
        int (*size)(void*);
        void (*sum_f)(void*, std::span<float>);
        void (*sum_d)(void*, std::span<double>);
        void (*broadcast)(void*, std::span<std::byte>, int);
        void (*allgather)(void*, std::span<const std::byte>, std::span<std::byte>);
        void (*barrier)(void*);
    };
    template <class C>
    static constexpr Ops ops_for{
        [](void* c) { return static_cast<int>(static_cast<C*>(c)->rank()); },
        [](void* c) { return static_cast<int>(static_cast<C*>(c)->size()); },
        [](void* c, std::span<float> v) { static_cast<C*>(c)->allreduce_sum(v); },
        [](void* c, std::span<double> v) { static_cast<C*>(c)->allreduce_sum(v); },
        [](void* c, std::span<std::byte> b, int root) { static_cast<C*>(c)->broadcast(b, root); },
        [](void* c, std::span<const std::byte> p, std::span<std::byte> a) { static_cast<C*>(c)->allgather(p, a); },
        [](void* c) { static_cast<C*>(c)->barrier(); },
    };

    void* self_ = nullptr;
    const Ops* ops_ = nullptr;
};
static_assert(Communicator<CommunicatorRef>);

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
