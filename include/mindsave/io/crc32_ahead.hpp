// CRC-32s of a list of byte spans computed in order on a thread of their own, so a writer that needs each
// one just before writing its bytes (a zip's local header) overlaps the checksums with its writes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stop_token>
#include <thread>
#include <vector>

#include "mindsave/core/parallel.hpp"
#include "mindsave/io/crc32.hpp"

namespace mindsave::io {

class Crc32Ahead {
public:
    // From this many bytes in all, a thread of its own pays (measured: a .pth save of 98 MiB spent 10 ms of
    // its 80 in CRCs on the writing thread); below it, or on one core, each CRC is computed when asked for.
    static constexpr std::size_t thread_min_bytes = std::size_t{4} << 20;

    // pieces must stay alive and unchanged until this object is destroyed.
    explicit Crc32Ahead(std::vector<std::span<const std::byte>> pieces)
        : pieces_(std::move(pieces)), crcs_(pieces_.size(), 0) {
        std::size_t total = 0;
        for (const auto& p : pieces_) total += p.size();
        if (total < thread_min_bytes || num_threads() < 2) return;
        worker_ = std::jthread([this](std::stop_token stop) {
            for (std::size_t i = 0; i < pieces_.size() && !stop.stop_requested(); ++i) {
                crcs_[i] = crc32(pieces_[i]);
                ready_.store(i + 1, std::memory_order_release);
                ready_.notify_one();
            }
        });
    }
    Crc32Ahead(const Crc32Ahead&) = delete;
    Crc32Ahead& operator=(const Crc32Ahead&) = delete;
    ~Crc32Ahead() = default;  // the jthread asks its loop to stop and joins it (a writer that threw leaves early)

    // The CRC-32 of piece i, waiting for it if the thread has not got there yet.
    std::uint32_t operator[](std::size_t i) {
        if (!worker_.joinable()) return crc32(pieces_[i]);
        for (std::size_t done = ready_.load(std::memory_order_acquire); done <= i; done = ready_.load(std::memory_order_acquire))
            ready_.wait(done, std::memory_order_acquire);
        return crcs_[i];
    }

private:
    std::vector<std::span<const std::byte>> pieces_;
    std::vector<std::uint32_t> crcs_;
    std::atomic<std::size_t> ready_{0};
    std::jthread worker_;  // last: joined before the members it reads go
};

}  // namespace mindsave::io
