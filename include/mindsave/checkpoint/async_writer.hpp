// The one background writer of checkpoints (save_checkpoint's async_save and ModelCheckpoint's): each write
// on a thread of its own, files made durable in save order, a failure raised on the caller's thread.
#pragma once

#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace mindsave::detail {

// A write is a job(release_snapshot, after_previous): it reads the caller's snapshot until it calls
// release_snapshot() (or ends), and after_previous() waits for the write before it. A new write starts only
// once the snapshot is released and fewer than max_in_flight writes are running, so a slow disk holds the
// caller up instead of piling up threads.
class AsyncWriter {
public:
    explicit AsyncWriter(int max_in_flight) noexcept : max_in_flight_(max_in_flight) {}
    AsyncWriter(const AsyncWriter&) = delete;
    AsyncWriter& operator=(const AsyncWriter&) = delete;
    ~AsyncWriter() { wait_quietly(); }

    // Blocks until a write may start (the snapshot is free to refill); raises an earlier write's failure.
    void wait_for_room() {
        std::exception_ptr e;
        {
            std::unique_lock lock(mutex_);
            changed_.wait(lock, [this] { return has_room(); });
            e = std::exchange(error_, nullptr);
        }
        if (e) std::rethrow_exception(e);
    }

    // Starts job on a new thread once there is room (callers on several threads take turns).
    template <class Job>
    void start(Job job) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [this] { return has_room(); });
        snapshot_busy_ = true;
        ++running_;
        // shared, so that if the thread cannot be started the previous writer is still ours to join
        const auto previous = std::make_shared<std::thread>(std::move(newest_));
        auto body = [this, job = std::move(job), previous]() mutable {
            bool released = false;  // by this job: a later one may hold the snapshot by the time it ends
            const auto release_snapshot = [this, &released] {
                if (std::exchange(released, true)) return;
                std::lock_guard inner(mutex_);
                snapshot_busy_ = false;
                changed_.notify_all();
            };
            const auto after_previous = [&previous] {
                if (previous->joinable()) previous->join();
            };
            try {
                job(release_snapshot, after_previous);
            } catch (...) {
                std::lock_guard inner(mutex_);
                if (!error_) error_ = std::current_exception();
            }
            release_snapshot();
            after_previous();  // joining the newest writer therefore joins them all
            std::lock_guard inner(mutex_);
            --running_;
            changed_.notify_all();
        };
        try {
            newest_ = std::thread(std::move(body));
        } catch (...) {
            snapshot_busy_ = false;
            --running_;
            lock.unlock();
            if (previous->joinable()) previous->join();
            throw;
        }
    }

    // Waits for every write; raises the first failure.
    void wait() {
        wait_quietly();
        rethrow_error();
    }
    // Waits for every write and forgets any failure (another error is already being reported).
    void wait_quietly() noexcept {
        std::thread newest;
        {
            std::lock_guard lock(mutex_);
            newest = std::move(newest_);
        }
        if (newest.joinable()) newest.join();
    }
    void forget_error() noexcept {
        std::lock_guard lock(mutex_);
        error_ = nullptr;
    }
    // Raises (once) the first failure of a write that has ended.
    void rethrow_error() {
        std::exception_ptr e;
        {
            std::lock_guard lock(mutex_);
            e = std::exchange(error_, nullptr);
        }
        if (e) std::rethrow_exception(e);
    }
    bool running() const {
        std::lock_guard lock(mutex_);
        return newest_.joinable();
    }

private:
    bool has_room() const noexcept { return !snapshot_busy_ && running_ < max_in_flight_; }

    const int max_in_flight_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::thread newest_;           // the newest writer; each joins the one before it
    bool snapshot_busy_ = false;   // a writer still reads the caller's snapshot
    int running_ = 0;              // writers not yet finished
    std::exception_ptr error_;     // the first failure of a write
};

}  // namespace mindsave::detail
