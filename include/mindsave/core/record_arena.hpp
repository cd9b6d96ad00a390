// Where a record's bytes live: RecordBytes, a std::vector whose allocator may carve them from one arena (a
// single anonymous mapping with huge pages), so loading 100 MiB into fresh records faults ~50 pages, not ~25,000.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "mindsave/core/huge_pages.hpp"

namespace mindsave {

namespace detail {

// One mapping that records' bytes are taken from, front to back, and never given back one by one: the
// mapping goes when the last record (each holds the arena through its allocator) goes.
class RecordArena {
public:
    static constexpr std::size_t alignment = 64;  // a cache line: every element type and SIMD load fits

    // An arena of at least bytes, asking for huge pages; nullptr when the system gives no mapping (the
    // records then come from the heap, as without an arena).
    static std::shared_ptr<RecordArena> make(std::size_t bytes) {
        const std::size_t mapped = round_up(bytes, huge_page_bytes) + huge_page_bytes;  // room to align the start
        void* base = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) return nullptr;
        return std::shared_ptr<RecordArena>(new RecordArena(static_cast<std::byte*>(base), mapped));
    }
    RecordArena(const RecordArena&) = delete;
    RecordArena& operator=(const RecordArena&) = delete;
    ~RecordArena() { ::munmap(base_, mapped_); }

    // n bytes, aligned, untouched so far; nullptr once the arena cannot hold them. Safe from any thread.
    std::byte* take(std::size_t n) noexcept {
        if (n > capacity_) return nullptr;
        const std::size_t size = round_up(n, alignment);
        const std::size_t at = used_.fetch_add(size, std::memory_order_relaxed);
        return at <= capacity_ - size ? begin_ + at : nullptr;
    }
    bool owns(const void* p) const noexcept {
        const auto a = reinterpret_cast<std::uintptr_t>(p), b = reinterpret_cast<std::uintptr_t>(begin_);
        return a >= b && a - b < capacity_;
    }
    std::size_t capacity() const noexcept { return capacity_; }

private:
    RecordArena(std::byte* base, std::size_t mapped) noexcept : base_(base), mapped_(mapped) {
        begin_ = base + (round_up(reinterpret_cast<std::uintptr_t>(base), huge_page_bytes) - reinterpret_cast<std::uintptr_t>(base));
        capacity_ = mapped - static_cast<std::size_t>(begin_ - base);
        ::madvise(begin_, capacity_ & ~(huge_page_bytes - 1), MADV_HUGEPAGE);  // a hint: ignored without THP
    }
    static constexpr std::size_t round_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) & ~(to - 1); }

    std::byte* base_;
    std::size_t mapped_;
    std::byte* begin_ = nullptr;
    std::size_t capacity_ = 0;
    std::atomic<std::size_t> used_{0};
};

}  // namespace detail

// std::allocator's behaviour, unless given an arena: then memory comes from the arena while it has room.
// A copy of a container goes to the heap (it does not keep the arena alive); a move takes the arena along.
template <class T>
class RecordAllocator {
public:
    using value_type = T;
    using propagate_on_container_copy_assignment = std::false_type;
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;
    using is_always_equal = std::false_type;

    RecordAllocator() noexcept = default;
    // a moved-from allocator keeps its arena (allocator requirements): moves copy
    RecordAllocator(const RecordAllocator&) noexcept = default;
    RecordAllocator& operator=(const RecordAllocator&) noexcept = default;
    explicit RecordAllocator(std::shared_ptr<detail::RecordArena> arena) noexcept : arena_(std::move(arena)) {}
    template <class U>
    RecordAllocator(const RecordAllocator<U>& other) noexcept : arena_(other.arena()) {}

    T* allocate(std::size_t n) {
        if (arena_ && n <= arena_->capacity() / sizeof(T))
            if (std::byte* p = arena_->take(n * sizeof(T))) return reinterpret_cast<T*>(p);
        return std::allocator<T>{}.allocate(n);
    }
    void deallocate(T* p, std::size_t n) noexcept {
        if (arena_ && arena_->owns(p)) return;  // freed with the arena
        std::allocator<T>{}.deallocate(p, n);
    }
    RecordAllocator select_on_container_copy_construction() const noexcept { return {}; }

    const std::shared_ptr<detail::RecordArena>& arena() const noexcept { return arena_; }
    template <class U>
    friend bool operator==(const RecordAllocator& a, const RecordAllocator<U>& b) noexcept {
        return a.arena_ == b.arena();
    }

private:
    std::shared_ptr<detail::RecordArena> arena_;
};

// A record's bytes: little-endian elements, C order.
using RecordBytes = std::vector<std::byte, RecordAllocator<std::byte>>;

}  // namespace mindsave
