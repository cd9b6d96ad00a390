// The MPI communicator (Open MPI or MPICH): RAII MPI_Init_thread / MPI_Finalize, or a user's own
// MPI_Comm adopted; every MPI failure, or a group silent past the timeout, a typed CommunicationError naming
// the call. Opt-in target mindsave::mpi.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "mindsave/core/communicator.hpp"
#include "mindsave/core/errors.hpp"

namespace mindsave::mpi {

namespace detail {

inline std::string error_string(int rc) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(rc, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
    return std::string(text, static_cast<std::size_t>(length));
}

inline void check(int rc, const char* call) {
    if (rc != MPI_SUCCESS)
        throw CommunicationError(std::string(call) + " failed: " + error_string(rc) +
                                 " (a process of the job may have died; see mpirun's messages)");
}

inline bool initialized() {
    int yes = 0, finalized = 0;
    MPI_Initialized(&yes);
    MPI_Finalized(&finalized);
    return yes && !finalized;
}

// Set when a bounded collective timed out: its request may still be answered, so MPI cannot be finalized
// cleanly; Environment then aborts the job instead (mpirun ends every process, with its message).
inline std::atomic<bool> abandoned{false};

// Calls f(offset, count) over [0, n) in pieces an int count can hold.
template <class F>
void in_pieces(std::size_t n, F&& f) {
    constexpr std::size_t most = INT_MAX / 2;
    for (std::size_t offset = 0; offset < n; offset += most) f(offset, static_cast<int>(std::min(most, n - offset)));
}

}  // namespace detail

// MPI for this process: MPI_Init_thread(MPI_THREAD_FUNNELED) on construction (mindsave's own threads
// never call MPI), MPI_Finalize on destruction. An MPI the program initialized itself is left to it.
class Environment {
public:
    explicit Environment(int* argc = nullptr, char*** argv = nullptr) {
        if (detail::initialized()) return;
        int provided = 0;
        detail::check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
        owns_ = true;
    }
    ~Environment() {
        if (!owns_ || !detail::initialized()) return;
        if (detail::abandoned.load()) MPI_Abort(MPI_COMM_WORLD, 1);  // a peer is dead or hung: end the job
        else MPI_Finalize();
    }
    Environment(const Environment&) = delete;
    Environment& operator=(const Environment&) = delete;

private:
    bool owns_ = false;
};

// A group of MPI processes: MPI_COMM_WORLD, or any communicator the caller owns (a sub-communicator of a
// bigger application); mindsave never frees it. Errors on it return instead of aborting the job
// (MPI_ERRORS_RETURN) and become CommunicationErrors. Collectives on control data (allgather, barrier,
// broadcasts up to 64 KiB: a checkpoint's commit, the run's prefix) wait at most timeout(), then throw:
// a rank that died or hangs cannot hold the others forever. Gradient and parameter transfers block as
// MPI does (a process that dies there makes mpirun end the job).
class Communicator {
public:
    Communicator() : Communicator(MPI_COMM_WORLD) {}
    explicit Communicator(MPI_Comm comm) : comm_(comm) {
        if (!detail::initialized())
            throw ConfigError("mpi::Communicator needs MPI initialized: call mindsave::mpi::init() or keep an "
                              "mpi::Environment alive first");
        detail::check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
        detail::check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
        detail::check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    }

    MPI_Comm native() const noexcept { return comm_; }
    int rank() const noexcept { return rank_; }
    int size() const noexcept { return size_; }

    void allreduce_sum(std::span<float> v) { allreduce(v.data(), v.size(), MPI_FLOAT); }
    void allreduce_sum(std::span<double> v) { allreduce(v.data(), v.size(), MPI_DOUBLE); }

    std::chrono::milliseconds timeout() const noexcept { return timeout_; }
    void set_timeout(std::chrono::milliseconds t) noexcept { timeout_ = t; }

    void broadcast(std::span<std::byte> bytes, int root) {
        refuse_if_abandoned("MPI_Bcast");
        if (bytes.size() <= bounded_bytes) {  // through a buffer of ours: it outlives an abandoned request
            scratch_.assign(bytes.begin(), bytes.end());
            MPI_Request request;
            detail::check(MPI_Ibcast(scratch_.data(), static_cast<int>(bytes.size()), MPI_BYTE, root, comm_, &request),
                          "MPI_Ibcast");
            wait(request, "MPI_Ibcast");
            std::copy(scratch_.begin(), scratch_.end(), bytes.begin());
            return;
        }
        detail::in_pieces(bytes.size(), [&](std::size_t offset, int count) {
            detail::check(MPI_Bcast(bytes.data() + offset, count, MPI_BYTE, root, comm_), "MPI_Bcast");
        });
    }

    // Every rank's piece (all the same size), in rank order.
    void allgather(std::span<const std::byte> piece, std::span<std::byte> all) {
        if (all.size() != piece.size() * static_cast<std::size_t>(size_))
            throw ShapeError("allgather: the output must hold size() pieces of the input's size");
        refuse_if_abandoned("MPI_Allgather");
        if (piece.size() > INT_MAX / static_cast<std::size_t>(size_)) throw ShapeError("allgather: more than 2 GiB in all");
        scratch_.assign(piece.begin(), piece.end());
        gathered_.resize(all.size());
        MPI_Request request;
        detail::check(MPI_Iallgather(scratch_.data(), static_cast<int>(piece.size()), MPI_BYTE, gathered_.data(),
                                     static_cast<int>(piece.size()), MPI_BYTE, comm_, &request),
                      "MPI_Iallgather");
        wait(request, "MPI_Iallgather");
        std::copy(gathered_.begin(), gathered_.end(), all.begin());
    }

    void barrier() {
        refuse_if_abandoned("MPI_Barrier");
        MPI_Request request;
        detail::check(MPI_Ibarrier(comm_, &request), "MPI_Ibarrier");
        wait(request, "MPI_Ibarrier");
    }

    static constexpr std::size_t bounded_bytes = 64 * 1024;

private:
    void allreduce(void* data, std::size_t n, MPI_Datatype type) {
        refuse_if_abandoned("MPI_Allreduce");
        int bytes = 0;
        MPI_Type_size(type, &bytes);
        detail::in_pieces(n, [&](std::size_t offset, int count) {
            detail::check(MPI_Allreduce(MPI_IN_PLACE, static_cast<std::byte*>(data) + offset * static_cast<std::size_t>(bytes),
                                        count, type, MPI_SUM, comm_),
                          "MPI_Allreduce");
        });
    }

    static void refuse_if_abandoned(const char* call) {
        if (detail::abandoned.load())
            throw CommunicationError(std::string(call) + ": an earlier collective timed out, so the group is broken; "
                                     "end the process (the job is aborted as it exits)");
    }

    // Polls request until it completes or the timeout passes (then the job cannot end cleanly: see abandoned).
    void wait(MPI_Request& request, const char* call) {
        const auto deadline = std::chrono::steady_clock::now() + timeout_;
        for (std::size_t polls = 0;; ++polls) {
            int done = 0;
            detail::check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), call);
            if (done) return;
            if (std::chrono::steady_clock::now() > deadline) {
                detail::abandoned = true;
                throw CommunicationError(
                    std::string(call) + ": rank " + std::to_string(rank_) + " waited " +
                    std::to_string(timeout_.count()) + " ms and not every rank of the " + std::to_string(size_) +
                    " joined (one died or hangs); the job must end: mpi::init()'s Environment calls MPI_Abort as "
                    "this process exits (a program that initialized MPI itself should call MPI_Abort). Raise "
                    "mpi::Communicator::set_timeout if a rank may legitimately take longer");
            }
            if (polls > 1000) std::this_thread::yield();  // the ranks may share cores: let a slow one run
        }
    }

    MPI_Comm comm_;
    int rank_ = 0, size_ = 1;
    std::chrono::milliseconds timeout_ = std::chrono::minutes(10);
    std::vector<std::byte> scratch_, gathered_;  // live as long as the communicator: see broadcast()
};
static_assert(mindsave::Communicator<Communicator>);

// MindSpore's init(): MPI initialized once for the process (finalized when it exits), and the world
// communicator as its training group (get_rank(), get_group_size()).
inline Communicator& init() {
    static Environment environment;
    static Communicator world;
    set_group(world);
    return world;
}

}  // namespace mindsave::mpi
