// The readers of an optimizer's state that a background save holds while the optimizer writes aside:
// a lease per reader of one of the two buffer sets, and the wait the optimizer makes before reusing one.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>

namespace mindsave {

namespace detail {
// Counts the readers of buffer set 0 and 1. The mutex also orders the allocation of the second set
// (reserve_aside_buffers on a background thread) before its first use.
struct AsideGate {
    std::mutex mutex;
    std::condition_variable released;
    int readers[2] = {0, 0};

    void wait_until_unread(int set) {
        std::unique_lock lock(mutex);
        released.wait(lock, [&] { return readers[set] == 0; });
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
