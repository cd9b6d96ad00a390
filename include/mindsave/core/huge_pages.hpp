// Fresh tensor buffers of megabytes: transparent huge pages asked for before the first write, so filling
// 100 MiB of new records takes a few hundred page faults instead of ~25,000 (THP "madvise" mode, Debian's).
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace mindsave::detail {

inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

// Advises huge pages for the 2 MiB-aligned part of [p, p + n) that no page has been touched in yet; a hint
// only (a kernel without THP, or with it off, ignores it).
inline void advise_huge_pages(void* p, std::size_t n) noexcept {
    if (n < huge_page_bytes) return;
    const auto begin = (reinterpret_cast<std::uintptr_t>(p) + huge_page_bytes - 1) & ~(huge_page_bytes - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(p) + n) & ~(huge_page_bytes - 1);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace mindsave::detail
