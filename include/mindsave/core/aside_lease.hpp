// The readers of an optimizer's state that a background save holds while the optimizer writes aside:
// a lease per reader of one of the two buffer sets, and the wait the optimizer makes before reusing one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>

namespace mindsave {

namespace detail {
// Counts the readers of buffer set 0 and 1. The mutex also orders the allocation of the second set
// (reserve_aside_buffers on a background thread) before its first use.
struct AsideGate {
    std::mutex mutex;
    std::condition_variable released;
    int readers[2] = {0, 0};
    std::chrono::nanoseconds waited{};  // in total, by steps that found their set still read

    void wait_until_unread(int set) {
        std::unique_lock lock(mutex);
        if (readers[set] == 0) return;
        const auto start = std::chrono::steady_clock::now();
        released.wait(lock, [&] { return readers[set] == 0; });
        waited += std::chrono::steady_clock::now() - start;
    }
};
}  // namespace detail

// One reader's hold on the buffers an optimizer left as they were (WritesAside::write_aside): while it
// is held, the optimizer does not write them again. Released by release() or the destructor.
class AsideLease {
public:
    AsideLease() = default;
    AsideLease(std::shared_ptr<detail::AsideGate> gate, int set) : gate_(std::move(gate)), set_(set) {
        std::lock_guard lock(gate_->mutex);
        ++gate_->readers[set_];
    }
    AsideLease(AsideLease&& o) noexcept : gate_(std::move(o.gate_)), set_(o.set_) {}
    AsideLease& operator=(AsideLease&& o) noexcept {
        if (this != &o) {
            release();
            gate_ = std::move(o.gate_);
            set_ = o.set_;
        }
        return *this;
    }
    AsideLease(const AsideLease&) = delete;
    AsideLease& operator=(const AsideLease&) = delete;
    ~AsideLease() { release(); }

    explicit operator bool() const noexcept { return gate_ != nullptr; }
    // The gate this lease counts on, to ask later how long the optimizer waited for its readers.
    const std::shared_ptr<detail::AsideGate>& gate() const noexcept { return gate_; }

    void release() noexcept {
        if (!gate_) return;
        {
            std::lock_guard lock(gate_->mutex);
            --gate_->readers[set_];
        }
        gate_->released.notify_all();
        gate_.reset();
    }

private:
    std::shared_ptr<detail::AsideGate> gate_;
    int set_ = 0;
};

}  // namespace mindsave
