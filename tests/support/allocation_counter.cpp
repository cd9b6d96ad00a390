// The replaced global operator new / delete behind allocation_count().
#include "allocation_counter.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::size_t> allocations{0};
std::atomic<std::size_t> largest{0};
void count(std::size_t n) noexcept {
    ++allocations;
    for (std::size_t seen = largest.load(); n > seen && !largest.compare_exchange_weak(seen, n);) {
    }
}
}  // namespace

std::size_t mindsave::testing::allocation_count() noexcept { return allocations.load(); }
std::size_t mindsave::testing::largest_allocation_since_reset() noexcept { return largest.load(); }
void mindsave::testing::reset_largest_allocation() noexcept { largest = 0; }

void* operator new(std::size_t n) {
    count(n);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
    count(n);
    const auto align = static_cast<std::size_t>(a);
    if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align)) return p;
    throw std::bad_alloc();
}
// Not inlined: GCC 12 would otherwise pair an inlined free() with a new-expression and warn.
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
