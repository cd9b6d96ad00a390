// gemm and gemm_nt with the rows of C split across the library's threads (core/parallel.hpp).
// Rows never share an entry and each entry's sum runs in the same order, so results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstddef>

#include "mindsave/core/parallel.hpp"
#include "mindsave/nn/kernels/gemm.hpp"

namespace mindsave::kernels {

// Below this many multiply-adds a product runs on one thread: waking another costs more than it saves.
inline constexpr std::size_t parallel_min_macs = std::size_t{1} << 17;

namespace detail {
// Blocks of `rows` rows of an M-row product worth splitting, or 1 when the product is small.
inline std::size_t row_parts_cap(std::size_t M, std::size_t N, std::size_t K) noexcept {
    return M * N * K < parallel_min_macs ? 1 : static_cast<std::size_t>(-1);
}
}  // namespace detail

// epi (if any) is given each part's rows numbered from 0: it needs from_row(r0), as ChannelEpilogue has.
template <class Epi = NoEpilogue>
void gemm_parallel(std::size_t M, std::size_t N, std::size_t K, StridedMatrix A, const float* B, std::size_t ldb,
                   float* C, std::size_t ldc, bool accumulate, const Epi& epi = {}) {
    const std::size_t blocks = (M + 7) / 8;  // split on the kernel's 8-row blocks
    parallel_for(blocks, [&](std::size_t b, std::size_t e, std::size_t) {
        const std::size_t r0 = b * 8, r1 = std::min(M, e * 8);
        const StridedMatrix Ab{A.data + static_cast<std::ptrdiff_t>(r0) * A.row_stride, A.row_stride, A.col_stride};
        if constexpr (has_epilogue<Epi>) gemm(r1 - r0, N, K, Ab, B, ldb, C + r0 * ldc, ldc, accumulate, epi.from_row(r0));
        else gemm(r1 - r0, N, K, Ab, B, ldb, C + r0 * ldc, ldc, accumulate);
    }, 1, detail::row_parts_cap(M, N, K));
}

inline void gemm_nt_parallel(std::size_t M, std::size_t N, std::size_t K, const float* A, std::size_t lda,
                             const float* B, std::size_t ldb, float* C, std::size_t ldc, bool accumulate) {
    const std::size_t blocks = (M + 3) / 4;
    parallel_for(blocks, [&](std::size_t b, std::size_t e, std::size_t) {
        const std::size_t r0 = b * 4, r1 = std::min(M, e * 4);
        gemm_nt(r1 - r0, N, K, A + r0 * lda, lda, B, ldb, C + r0 * ldc, ldc, accumulate);
    }, 1, detail::row_parts_cap(M, N, K));
}

}  // namespace mindsave::kernels
