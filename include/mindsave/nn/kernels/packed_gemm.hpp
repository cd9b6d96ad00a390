// A packed, cache-blocked matrix multiply (BLIS's loop nest) on xsimd: C[M,N] = [C +] A[M,K] * B[K,N].
// B comes from any source that can pack a block of itself (a matrix, or a convolution's input read as im2col).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "mindsave/core/parallel.hpp"
#include "mindsave/nn/kernels/gemm.hpp"
#include "mindsave/nn/kernels/parallel_gemm.hpp"

namespace mindsave::kernels {

// The register tile: MR rows of C by NR = 2 vectors of columns, MR * 2 accumulators held over a whole
// k block. 32 vector registers (AVX-512) hold 14 x 2 of them beside two B vectors and a broadcast A; 16
// registers (AVX2, SSE, NEON) hold 6 x 2.
inline constexpr std::size_t packed_mr = simd_width >= 16 ? 14 : 6;
inline constexpr std::size_t packed_nv = 2;
inline constexpr std::size_t packed_nr = packed_nv * simd_width;

// The cache blocks: kc values of k per pass (a kc x NR panel of B, 32 KiB on AVX-512, stays in L1 while
// the rows of A stream past it), mc rows of A packed at a time (mc x kc: 336 KiB, in L2),
inline constexpr std::size_t packed_kc = 256;
inline constexpr std::size_t packed_mc = packed_mr * 24;
// and at most nc columns of B packed at a time (kc x nc: 2 MiB, in L3; it bounds each thread's buffer).
inline constexpr std::size_t packed_nc = 2048;

// Something B can be read from: pack(k0, kc, j0, nc, dst) writes B[k0, k0 + kc) x [j0, j0 + nc) into
// dst as ceil(nc / NR) panels, panel q holding B(k0 + k, j0 + q * NR + c) at dst[(q * kc + k) * NR + c],
// zero where j0 + q * NR + c >= j0 + nc.
template <class B>
concept PackableB = requires(const B& b, std::size_t n, float* dst) {
    { b.pack(n, n, n, n, dst) };
};

// B as a matrix: B(k, j) = data[k * row_stride + j * col_stride] (row-major, or a transposed one).
struct MatrixB {
    const float* data;
    std::ptrdiff_t row_stride;
    std::ptrdiff_t col_stride = 1;

    void pack(std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, float* dst) const noexcept {
        constexpr std::size_t NR = packed_nr;
        const std::size_t panels = (nc + NR - 1) / NR;
        if (col_stride == 1) {
            for (std::size_t k = 0; k < kc; ++k) {
                const float* row = data + static_cast<std::ptrdiff_t>(k0 + k) * row_stride + static_cast<std::ptrdiff_t>(j0);
                for (std::size_t q = 0; q < panels; ++q) {
                    float* out = dst + (q * kc + k) * NR;
                    const std::size_t n = std::min(NR, nc - q * NR);
                    if (n == NR) {
                        for (std::size_t v = 0; v < NR; v += simd_width)
                            fbatch::load_unaligned(row + q * NR + v).store_aligned(out + v);
                    } else {
                        std::copy(row + q * NR, row + q * NR + n, out);
                        std::fill(out + n, out + NR, 0.0f);
                    }
                }
            }
            return;
        }
        // transposed: read along the stored rows (j), write with stride NR, 16 values of k at a time so the
        // lines written stay in L1 (a panel's kc lines at once thrash it: packing all of layer4's 3x3
        // weights, 9 MiB, took 1.31 ms that way and 0.82 ms this way)
        constexpr std::size_t KB = 16;
        for (std::size_t q = 0; q < panels; ++q) {
            const std::size_t n = std::min(NR, nc - q * NR);
            float* panel = dst + q * kc * NR;
            for (std::size_t kb = 0; kb < kc; kb += KB) {
                const std::size_t ke = std::min(kc, kb + KB);
                for (std::size_t c = 0; c < n; ++c) {
                    const float* col = data + static_cast<std::ptrdiff_t>(j0 + q * NR + c) * col_stride +
                                       static_cast<std::ptrdiff_t>(k0) * row_stride;
                    for (std::size_t k = kb; k < ke; ++k) panel[k * NR + c] = col[static_cast<std::ptrdiff_t>(k) * row_stride];
                }
                for (std::size_t k = kb; k < ke; ++k) std::fill(panel + k * NR + n, panel + (k + 1) * NR, 0.0f);
            }
        }
    }
};

namespace detail {

// Buffers for packed blocks, one set per thread, grown on first use and kept (no allocation per call).
inline std::vector<float, xsimd::aligned_allocator<float, 64>>& packed_buffer(int which) {
    thread_local std::vector<float, xsimd::aligned_allocator<float, 64>> buffers[3];  // B, A, a B source's own
    return buffers[which];
}
inline float* packed_space(int which, std::size_t floats) {
    auto& b = packed_buffer(which);
    if (b.size() < floats) b.resize(floats);
    return b.data();
}

// Rows [i0, i0 + mc) and k [k0, k0 + kc) of A as MR-row panels: dst[(p * kc + k) * MR + r], zero past M.
inline void pack_a(StridedMatrix A, std::size_t M, std::size_t i0, std::size_t mc, std::size_t k0, std::size_t kc,
                   float* dst) noexcept {
    constexpr std::size_t MR = packed_mr;
    for (std::size_t p = 0; p * MR < mc; ++p) {
        float* panel = dst + p * kc * MR;
        for (std::size_t r = 0; r < MR; ++r) {
            const std::size_t i = i0 + p * MR + r;
            if (i >= M || p * MR + r >= mc) {
                for (std::size_t k = 0; k < kc; ++k) panel[k * MR + r] = 0.0f;
                continue;
            }
            const float* a = A.data + static_cast<std::ptrdiff_t>(i) * A.row_stride + static_cast<std::ptrdiff_t>(k0) * A.col_stride;
            for (std::size_t k = 0; k < kc; ++k) panel[k * MR + r] = a[static_cast<std::ptrdiff_t>(k) * A.col_stride];
        }
    }
}

// The register tile: C[MR, NR] (ldc apart) = (load ? C : 0) + a-panel * b-panel over kc, one fma chain
// per entry in k order (the same bits as gemm_rows for any blocking).
// The last k block maps each entry through epi(i0 + r, j0 + column) as it is stored (last: it is the last).
template <std::size_t MR, std::size_t NV, class Epi = NoEpilogue>
inline void micro_tile(std::size_t kc, const float* a, const float* b, float* c, std::size_t ldc, bool load,
                       const Epi& epi = {}, bool last = false, std::size_t i0 = 0, std::size_t j0 = 0) noexcept {
    constexpr std::size_t W = simd_width, NR = NV * W;
    fbatch acc[MR][NV];
#pragma GCC unroll 16
    for (std::size_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) acc[r][v] = load ? fbatch::load_unaligned(c + r * ldc + v * W) : fbatch(0.0f);
    for (std::size_t k = 0; k < kc; ++k) {
        fbatch bv[NV];
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) bv[v] = fbatch::load_aligned(b + k * NR + v * W);
#pragma GCC unroll 16
        for (std::size_t r = 0; r < MR; ++r) {
            const fbatch av(a[k * MR + r]);
#pragma GCC unroll 4
            for (std::size_t v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(av, bv[v], acc[r][v]);
        }
    }
    if constexpr (has_epilogue<Epi>)
        if (last)
            for (std::size_t r = 0; r < MR; ++r)
                for (std::size_t v = 0; v < NV; ++v) acc[r][v] = epi(i0 + r, j0 + v * W, acc[r][v]);
#pragma GCC unroll 16
    for (std::size_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) acc[r][v].store_unaligned(c + r * ldc + v * W);
}

// A tile at the edge of C (rows < MR or columns < NR): through a whole tile on the stack.
template <class Epi = NoEpilogue>
inline void micro_edge(std::size_t kc, const float* a, const float* b, float* c, std::size_t ldc, bool load,
                       std::size_t rows, std::size_t cols, const Epi& epi = {}, bool last = false, std::size_t i0 = 0,
                       std::size_t j0 = 0) noexcept {
    constexpr std::size_t MR = packed_mr, NR = packed_nr;
    alignas(64) float tile[MR * NR];
    if (load)
        for (std::size_t r = 0; r < rows; ++r) std::copy(c + r * ldc, c + r * ldc + cols, tile + r * NR);
    micro_tile<MR, packed_nv>(kc, a, b, tile, NR, load);
    for (std::size_t r = 0; r < rows; ++r) {
        if constexpr (has_epilogue<Epi>)
            if (last) {  // only the entries inside C: an epilogue may read beside them (a residual's rows)
                for (std::size_t j = 0; j < cols; ++j) c[r * ldc + j] = epi(i0 + r, j0 + j, tile[r * NR + j]);
                continue;
            }
        std::copy(tile + r * NR, tile + r * NR + cols, c + r * ldc);
    }
}

// C[i0, i1) x [j0, j1) on this thread: B packed kc x nc at a time, A mc x kc at a time, then the tiles.
template <class BSource, class Epi>
void packed_block(std::size_t M, std::size_t K, StridedMatrix A, const BSource& B, float* C, std::size_t ldc,
                  bool accumulate, std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1, const Epi& epi) {
    constexpr std::size_t MR = packed_mr, NR = packed_nr, KC = packed_kc, MC = packed_mc, NC = packed_nc;
    float* bp = packed_space(0, std::min(NC, (j1 - j0 + NR - 1) / NR * NR) * std::min(KC, K));
    float* ap = packed_space(1, MC * std::min(KC, K));
    for (std::size_t jc = j0; jc < j1; jc += NC) {
        const std::size_t nc = std::min(NC, j1 - jc), panels = (nc + NR - 1) / NR;
        for (std::size_t k0 = 0; k0 < K; k0 += KC) {
            const std::size_t kc = std::min(KC, K - k0);
            const bool load = accumulate || k0 > 0, last = k0 + kc == K;
            B.pack(k0, kc, jc, nc, bp);
            for (std::size_t ic = i0; ic < i1; ic += MC) {
                const std::size_t mc = std::min(MC, i1 - ic);
                pack_a(A, M, ic, mc, k0, kc, ap);
                for (std::size_t q = 0; q < panels; ++q) {
                    const std::size_t j = jc + q * NR, cols = std::min(NR, jc + nc - j);
                    const float* b = bp + q * kc * NR;
                    for (std::size_t p = 0; p * MR < mc; ++p) {
                        const std::size_t i = ic + p * MR, rows = std::min(MR, i1 - i);
                        float* c = C + i * ldc + j;
                        if (rows == MR && cols == NR)
                            micro_tile<MR, packed_nv>(kc, ap + p * kc * MR, b, c, ldc, load, epi, last, i, j);
                        else micro_edge(kc, ap + p * kc * MR, b, c, ldc, load, rows, cols, epi, last, i, j);
                    }
                }
            }
        }
    }
}

}  // namespace detail

// C (M x N, row stride ldc) = [C +] A (M x K) * B (K x N), split over the library's threads in blocks of
// C (a call from inside another parallel job runs here alone). Each entry of C is one fma chain over k
// in order, as in gemm(): neither the blocking nor the thread count changes a bit of the result.
// epi (if any) maps each entry as it is finally stored.
template <PackableB BSource, class Epi = NoEpilogue>
void packed_gemm(std::size_t M, std::size_t N, std::size_t K, StridedMatrix A, const BSource& B, float* C,
                 std::size_t ldc, bool accumulate, const Epi& epi = {}) {
    constexpr std::size_t MR = packed_mr, NR = packed_nr;
    if (M == 0 || N == 0) return;
    if (K == 0) {
        for (std::size_t i = 0; i < M; ++i) {
            if (!accumulate) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
            if constexpr (has_epilogue<Epi>)
                for (std::size_t j = 0; j < N; ++j) C[i * ldc + j] = epi(i, j, C[i * ldc + j]);
        }
        return;
    }
    // Split the columns while each part keeps a few panels, else the rows: whole tiles either way.
    const std::size_t col_panels = (N + NR - 1) / NR, row_panels = (M + MR - 1) / MR;
    const std::size_t cap = M * N * K < parallel_min_macs ? 1 : static_cast<std::size_t>(-1);
    const bool by_columns = col_panels >= 4 * num_threads() || col_panels >= row_panels;
    if (by_columns) {
        parallel_for(col_panels, [&](std::size_t b, std::size_t e, std::size_t) {
            detail::packed_block(M, K, A, B, C, ldc, accumulate, 0, M, b * NR, std::min(N, e * NR), epi);
        }, 1, cap);
    } else {
        parallel_for(row_panels, [&](std::size_t b, std::size_t e, std::size_t) {
            detail::packed_block(M, K, A, B, C, ldc, accumulate, b * MR, std::min(M, e * MR), 0, N, epi);
        }, 1, cap);
    }
}

}  // namespace mindsave::kernels
