// Register-blocked matrix multiply on xsimd: the one kernel conv and dense layers reduce to.
// C[M,N] = (beta ? C : 0) + A(i,k) * B[k,N], with A read through strides so A or A^T both work.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace mindsave::kernels {

using fbatch = xsimd::batch<float>;
inline constexpr std::size_t simd_width = fbatch::size;

// A matrix operand addressed as A(i, k) = data[i * row_stride + k * col_stride].
struct StridedMatrix {
    const float* data;
    std::ptrdiff_t row_stride;
    std::ptrdiff_t col_stride;
    float operator()(std::size_t i, std::size_t k) const noexcept {
        return data[static_cast<std::ptrdiff_t>(i) * row_stride + static_cast<std::ptrdiff_t>(k) * col_stride];
    }
};
// Row-major M x K, or the transpose of a row-major K x M, as a StridedMatrix.
inline StridedMatrix row_major(const float* a, std::size_t cols) noexcept {
    return {a, static_cast<std::ptrdiff_t>(cols), 1};
}
inline StridedMatrix transposed(const float* a, std::size_t cols_of_stored) noexcept {
    return {a, 1, static_cast<std::ptrdiff_t>(cols_of_stored)};
}

// A product's stores as they are; an epilogue (epilogue.hpp) maps each finished entry first:
// e(i, j, v) for a vector of entries of row i from column j, or one entry.
struct NoEpilogue {};
template <class E>
inline constexpr bool has_epilogue = !std::is_same_v<E, NoEpilogue>;

namespace detail {

// R rows of C, all N columns: R x NV vector accumulators live in registers over the whole k loop;
// then single vectors, then a scalar tail. Each entry of C is one fma chain over k in order, whatever
// R and NV are, so splitting the rows of C (across threads) never changes a result.
template <std::size_t R, std::size_t NV, class Epi = NoEpilogue>
inline void gemm_rows(std::size_t i0, std::size_t N, std::size_t K, StridedMatrix A, const float* B,
                      std::size_t ldb, float* C, std::size_t ldc, bool accumulate, const Epi& epi = {}) noexcept {
    constexpr std::size_t W = simd_width, step = NV * W;
    const std::size_t end_blocks = N - N % step, end_singles = N - N % W;
    std::size_t j = 0;
    for (; j < end_blocks; j += step) {
        fbatch acc[R][NV];
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t v = 0; v < NV; ++v)
                acc[r][v] = accumulate ? fbatch::load_unaligned(C + (i0 + r) * ldc + j + v * W) : fbatch(0.0f);
        for (std::size_t k = 0; k < K; ++k) {
            const float* b = B + k * ldb + j;
            fbatch bv[NV];
            for (std::size_t v = 0; v < NV; ++v) bv[v] = fbatch::load_unaligned(b + v * W);
            for (std::size_t r = 0; r < R; ++r) {
                const fbatch a(A(i0 + r, k));
                for (std::size_t v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(a, bv[v], acc[r][v]);
            }
        }
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t v = 0; v < NV; ++v) {
                if constexpr (has_epilogue<Epi>) acc[r][v] = epi(i0 + r, j + v * W, acc[r][v]);
                acc[r][v].store_unaligned(C + (i0 + r) * ldc + j + v * W);
            }
    }
    for (; j < end_singles; j += W) {
        fbatch acc[R];
        for (std::size_t r = 0; r < R; ++r)
            acc[r] = accumulate ? fbatch::load_unaligned(C + (i0 + r) * ldc + j) : fbatch(0.0f);
        for (std::size_t k = 0; k < K; ++k) {
            const fbatch b = fbatch::load_unaligned(B + k * ldb + j);
            for (std::size_t r = 0; r < R; ++r) acc[r] = xsimd::fma(fbatch(A(i0 + r, k)), b, acc[r]);
        }
        for (std::size_t r = 0; r < R; ++r) {
            if constexpr (has_epilogue<Epi>) acc[r] = epi(i0 + r, j, acc[r]);
            acc[r].store_unaligned(C + (i0 + r) * ldc + j);
        }
    }
    for (std::size_t r = 0; r < R; ++r) {  // scalar tail, row by row
        float* c = C + (i0 + r) * ldc;
        for (std::size_t jj = j; jj < N; ++jj) {
            float s = accumulate ? c[jj] : 0.0f;
            for (std::size_t k = 0; k < K; ++k) s = std::fma(A(i0 + r, k), B[k * ldb + jj], s);
            if constexpr (has_epilogue<Epi>) s = epi(i0 + r, jj, s);
            c[jj] = s;
        }
    }
}

// The last M % 8 rows (or all of a short M) in one pass over B: fewer rows leave room for wider blocks.
template <std::size_t R, class Epi>
inline void gemm_rest(std::size_t i0, std::size_t N, std::size_t K, StridedMatrix A, const float* B,
                      std::size_t ldb, float* C, std::size_t ldc, bool accumulate, const Epi& epi) noexcept {
    gemm_rows<R, (R <= 6 ? 4 : 3)>(i0, N, K, A, B, ldb, C, ldc, accumulate, epi);
}

}  // namespace detail

namespace detail {

// An epilogue for a block of C that starts at column j0.
template <class Epi>
struct ColumnsFrom {
    const Epi& epi;
    std::size_t j0;
    template <class V>
    V operator()(std::size_t i, std::size_t j, V v) const noexcept { return epi(i, j0 + j, v); }
};

// One block of C: every row of A against B's rows [k0, k0 + K) and columns [0, N) of the block.
template <class Epi>
inline void gemm_block(std::size_t M, std::size_t N, std::size_t K, StridedMatrix A, const float* B, std::size_t ldb,
                       float* C, std::size_t ldc, bool accumulate, const Epi& epi) noexcept {
    const std::size_t end_blocks = M - M % 8;
    for (std::size_t i = 0; i < end_blocks; i += 8)
        detail::gemm_rows<8, 3>(i, N, K, A, B, ldb, C, ldc, accumulate, epi);
    const std::size_t i = end_blocks;
    switch (M - i) {
        case 7: detail::gemm_rest<7>(i, N, K, A, B, ldb, C, ldc, accumulate, epi); break;
        case 6: detail::gemm_rest<6>(i, N, K, A, B, ldb, C, ldc, accumulate, epi); break;
        case 5: detail::gemm_rest<5>(i, N, K, A, B, ldb, C, ldc, accumulate, epi); break;
        case 4: detail::gemm_rest<4>(i, N, K, A, B, ldb, C, ldc, accumulate, epi); break;
        case 3: detail::gemm_rest<3>(i, N, K, A, B, ldb, C, ldc, accumulate, epi); break;
        case 2: detail::gemm_rest<2>(i, N, K, A, B, ldb, C, ldc, accumulate, epi); break;
        case 1: detail::gemm_rest<1>(i, N, K, A, B, ldb, C, ldc, accumulate, epi); break;
        default: break;
    }
}

}  // namespace detail

// The cache blocks of gemm: gemm_kc values of k by gemm_nc columns of B (384 KiB) stay in L2 while every row
// of A passes over them; without them a wide B (a 3x3 convolution's columns: 7 MiB for ResNet50's layer1)
// streamed from L3 once per 8 rows of A.
inline constexpr std::size_t gemm_kc = 256;
inline constexpr std::size_t gemm_nc = 384;  // 8 of gemm_rows' 3-vector blocks on AVX-512

// C (M x N, row stride ldc) = [C +] A (M x K) * B (K x N, row stride ldb), each entry through epi (if any)
// as it is finally stored. Blocks over k continue each entry's fma chain from the value stored, so the
// bits do not depend on the blocking.
template <class Epi = NoEpilogue>
inline void gemm(std::size_t M, std::size_t N, std::size_t K, StridedMatrix A, const float* B, std::size_t ldb,
                 float* C, std::size_t ldc, bool accumulate, const Epi& epi = {}) noexcept {
    if ((K <= gemm_kc && N <= gemm_nc) || K == 0) {
        detail::gemm_block(M, N, K, A, B, ldb, C, ldc, accumulate, epi);
        return;
    }
    for (std::size_t j0 = 0; j0 < N; j0 += gemm_nc) {
        const std::size_t nc = std::min(gemm_nc, N - j0);
        for (std::size_t k0 = 0; k0 < K; k0 += gemm_kc) {
            const std::size_t kc = std::min(gemm_kc, K - k0);
            const StridedMatrix Ak{A.data + static_cast<std::ptrdiff_t>(k0) * A.col_stride, A.row_stride, A.col_stride};
            const float* Bk = B + k0 * ldb + j0;
            const bool load = accumulate || k0 > 0;
            if (k0 + kc < K) detail::gemm_block(M, nc, kc, Ak, Bk, ldb, C + j0, ldc, load, NoEpilogue{});
            else if constexpr (has_epilogue<Epi>)
                detail::gemm_block(M, nc, kc, Ak, Bk, ldb, C + j0, ldc, load, detail::ColumnsFrom<Epi>{epi, j0});
            else detail::gemm_block(M, nc, kc, Ak, Bk, ldb, C + j0, ldc, load, NoEpilogue{});
        }
    }
}

namespace detail {

// RM x RN dot products of rows of A and rows of B, vectorized along the shared length K.
template <std::size_t RM, std::size_t RN>
inline void gemm_nt_block(std::size_t i0, std::size_t j0, std::size_t K, const float* A, std::size_t lda,
                          const float* B, std::size_t ldb, float* C, std::size_t ldc, bool accumulate) noexcept {
    constexpr std::size_t W = simd_width;
    fbatch acc[RM][RN];
    for (std::size_t r = 0; r < RM; ++r)
        for (std::size_t c = 0; c < RN; ++c) acc[r][c] = fbatch(0.0f);
    const std::size_t end = K - K % W;
    for (std::size_t k = 0; k < end; k += W) {
        fbatch a[RM];
        for (std::size_t r = 0; r < RM; ++r) a[r] = fbatch::load_unaligned(A + (i0 + r) * lda + k);
        for (std::size_t c = 0; c < RN; ++c) {
            const fbatch b = fbatch::load_unaligned(B + (j0 + c) * ldb + k);
            for (std::size_t r = 0; r < RM; ++r) acc[r][c] = xsimd::fma(a[r], b, acc[r][c]);
        }
    }
    for (std::size_t r = 0; r < RM; ++r) {
        for (std::size_t c = 0; c < RN; ++c) {
            float s = xsimd::hadd(acc[r][c]);
            const float* a = A + (i0 + r) * lda + end;
            const float* b = B + (j0 + c) * ldb + end;
            for (std::size_t t = 0, tail = K % W; t < tail; ++t) s = std::fma(a[t], b[t], s);  // scalar tail
            float& out = C[(i0 + r) * ldc + j0 + c];
            out = accumulate ? out + s : s;
        }
    }
}

// Columns per block: 6 where vectors are 16 floats wide (AVX-512 has 32 registers: 4x6 accumulators,
// 10 loads per 24 fmas), else 4 (16 registers). Entries never depend on the block shape.
inline constexpr std::size_t gemm_nt_cols = simd_width >= 16 ? 6 : 4;

template <std::size_t RM>
inline void gemm_nt_rows(std::size_t i0, std::size_t N, std::size_t K, const float* A, std::size_t lda,
                         const float* B, std::size_t ldb, float* C, std::size_t ldc, bool accumulate) noexcept {
    constexpr std::size_t RN = gemm_nt_cols;
    const std::size_t end_blocks = N - N % RN;
    for (std::size_t j = 0; j < end_blocks; j += RN)
        gemm_nt_block<RM, RN>(i0, j, K, A, lda, B, ldb, C, ldc, accumulate);
    for (std::size_t j = end_blocks; j < N; ++j) gemm_nt_block<RM, 1>(i0, j, K, A, lda, B, ldb, C, ldc, accumulate);
}

}  // namespace detail

// C (M x N) = [C +] A (M x K, row stride lda) * B^T, B stored N x K (row stride ldb): each entry a
// dot product of two contiguous rows, the fast form when K is long (weight gradients, x W^T).
inline void gemm_nt(std::size_t M, std::size_t N, std::size_t K, const float* A, std::size_t lda, const float* B,
                    std::size_t ldb, float* C, std::size_t ldc, bool accumulate) noexcept {
    const std::size_t end_quads = M - M % 4;
    for (std::size_t i = 0; i < end_quads; i += 4) detail::gemm_nt_rows<4>(i, N, K, A, lda, B, ldb, C, ldc, accumulate);
    switch (M - end_quads) {
        case 3: detail::gemm_nt_rows<3>(end_quads, N, K, A, lda, B, ldb, C, ldc, accumulate); break;
        case 2: detail::gemm_nt_rows<2>(end_quads, N, K, A, lda, B, ldb, C, ldc, accumulate); break;
        case 1: detail::gemm_nt_rows<1>(end_quads, N, K, A, lda, B, ldb, C, ldc, accumulate); break;
        default: break;
    }
}

// dst (cols x rows) = transpose of src (rows x cols), in cache-sized tiles.
inline void transpose(const float* src, std::size_t rows, std::size_t cols, float* dst) noexcept {
    constexpr std::size_t T = 32;
    for (std::size_t r0 = 0; r0 < rows; r0 += T)
        for (std::size_t c0 = 0; c0 < cols; c0 += T)
            for (std::size_t r = r0; r < std::min(rows, r0 + T); ++r)
                for (std::size_t c = c0; c < std::min(cols, c0 + T); ++c) dst[c * rows + r] = src[r * cols + c];
}

}  // namespace mindsave::kernels
