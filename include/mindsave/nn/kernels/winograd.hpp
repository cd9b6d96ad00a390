// Winograd F(4x4, 3x3) (Lavin and Gray, 2016) for 3x3 stride-1 convolutions: each 6x6 input tile and 3x3
// filter move to a domain where the convolution is 36 channel products, 4x fewer multiply-adds than im2col.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "mindsave/core/parallel.hpp"
#include "mindsave/nn/kernels/conv.hpp"
#include "mindsave/nn/kernels/gemm.hpp"

namespace mindsave::kernels {

inline constexpr std::size_t winograd_tile = 4;     // output positions a tile side
inline constexpr std::size_t winograd_points = 36;  // 6 x 6: products per tile, one per transformed point
// Tiles per block: 6 vectors, two of the gemm's 3-vector column blocks (a block's 36 transformed-input
// matrices, 36 x In x 96 floats, fit a 1 MiB L2 up to 64 channels; beyond, they come from L3).
inline constexpr std::size_t winograd_block_vectors = 6;

// Below this many tiles in a batch Winograd loses: each point's filter matrix (36 of them, 4x the weights) is
// read for too few columns (ResNet's 14x14 and 7x7 stages at batch 1 stay on im2col).
inline constexpr std::size_t winograd_min_tiles = 32;

namespace detail {

// The three transforms of F(4x4, 3x3) on one line of values, T float or fbatch. Written as sums of
// differences (the points 0, +-1, +-2): fewer operations than the matrices, and the same each call.
// G (6x3) applied to a filter line.
template <class T>
inline void winograd_filter_line(const T g0, const T g1, const T g2, T* r) noexcept {
    const T a = (g0 + g2) * T(-1.0f / 6.0f), b = g1 * T(-1.0f / 6.0f);
    const T c = g0 * T(1.0f / 24.0f) + g2 * T(1.0f / 6.0f), d = g1 * T(1.0f / 12.0f);
    r[0] = g0 * T(0.25f);
    r[1] = a + b;
    r[2] = a - b;
    r[3] = c + d;
    r[4] = c - d;
    r[5] = g2;
}
// B^T (6x6) applied to an input line read with stride s.
template <class T>
inline void winograd_input_line(const T* d, std::size_t s, T* r, std::size_t rs) noexcept {
    const T d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
    const T t0 = d4 - T(4.0f) * d2, t1 = d3 - T(4.0f) * d1, t2 = d4 - d2, t3 = (d3 - d1) * T(2.0f);
    r[0] = T(4.0f) * d0 - T(5.0f) * d2 + d4;
    r[rs] = t0 + t1;
    r[2 * rs] = t0 - t1;
    r[3 * rs] = t2 + t3;
    r[4 * rs] = t2 - t3;
    r[5 * rs] = T(4.0f) * d1 - T(5.0f) * d3 + d5;
}
// A^T (4x6) applied to a product line read with stride s.
template <class T>
inline void winograd_output_line(const T* m, std::size_t s, T* r, std::size_t rs) noexcept {
    const T s1 = m[s] + m[2 * s], d1 = m[s] - m[2 * s], s2 = m[3 * s] + m[4 * s], d2 = m[3 * s] - m[4 * s];
    r[0] = m[0] + s1 + s2;
    r[rs] = d1 + T(2.0f) * d2;
    r[2 * rs] = s1 + T(4.0f) * s2;
    r[3 * rs] = d1 + T(8.0f) * d2 + m[5 * s];
}

// One filter g (3x3, row-major) to its 36 points u = G g G^T, T float or fbatch.
template <class T>
inline void winograd_filter(const T* g, T* u) noexcept {
    T t[6][3];  // G g, column by column
    for (std::size_t j = 0; j < 3; ++j) {
        T col[6];
        winograd_filter_line(g[j], g[3 + j], g[6 + j], col);
        for (std::size_t i = 0; i < 6; ++i) t[i][j] = col[i];
    }
    for (std::size_t i = 0; i < 6; ++i) winograd_filter_line(t[i][0], t[i][1], t[i][2], u + 6 * i);
}

}  // namespace detail

// A batch's tiles in row-major order, sample after sample: tile t is (n, ty, tx), its output rows
// 4 ty .. 4 ty + 3 and columns 4 tx .. 4 tx + 3.
struct WinogradTiles {
    std::size_t TH, TW, count;
    WinogradTiles(const ConvGeometry& g, std::size_t N) noexcept
        : TH((g.out_height + winograd_tile - 1) / winograd_tile), TW((g.out_width + winograd_tile - 1) / winograd_tile),
          count(N * TH * TW) {}
    // Tiles [t0, t1) as runs within one tile row: f(n, ty, tx0, tiles, offset of the run's first from t0).
    template <class F>
    void each_run(std::size_t t0, std::size_t t1, F&& f) const {
        for (std::size_t t = t0; t < t1;) {
            const std::size_t r = t / TW, tx = t % TW, len = std::min(TW - tx, t1 - t);
            f(r / TH, r % TH, tx, len, t - t0);
            t += len;
        }
    }
};

// Where Winograd runs: a 3x3 stride-1 convolution of N samples with enough channels that the products
// dominate the transforms, and enough tiles.
inline bool winograd_applies(const ConvGeometry& g, std::size_t out_channels, std::size_t N) noexcept {
    return g.kernel == 3 && g.stride == 1 && g.channels >= 16 && out_channels >= 16 &&
           WinogradTiles(g, N).count >= winograd_min_tiles;
}

// The filters' transform and the per-thread buffers, kept across calls: no allocation in a training step.
struct WinogradScratch {
    std::vector<float> U;        // [36][Out][In]: each point's filter matrix
    std::vector<float> weights;  // the weights U was computed from: unchanged weights reuse U
    std::vector<float> V, M;     // per part: a block's transformed inputs [36][In][ld] and products [36][Out][ld]
    std::vector<float> D, E;     // per thread: a channel's tiles point by point [36][ld], its outputs [16][ld]
    std::size_t parts = 0, block = 0;  // block: tiles, whole vectors
};

namespace detail {

// The distance between two points' matrices of `rows` rows of ld: one cache line more than the rows, so the
// 36 matrices' lines of a column fall in different L1 sets (at a multiple of 4 KiB they all share one).
inline std::size_t winograd_point_stride(std::size_t rows, std::size_t ld) noexcept { return rows * ld + simd_width; }

// Tiles [t0, t1), channels [c0, c1), into V [36][In][ld]. Each channel's tiles are first copied point by point
// into d [36][ld] (zeros in the padding), so that each point of W tiles is one vector; d stays in L1.
inline void winograd_inputs(const float* x, const ConvGeometry& g, const WinogradTiles& T, std::size_t t0,
                            std::size_t t1, std::size_t c0, std::size_t c1, float* d, float* V, std::size_t ld) noexcept {
    const std::size_t In = g.channels, count = t1 - t0, stride = winograd_point_stride(In, ld);
    const auto pad_left = static_cast<std::ptrdiff_t>(g.pad_left), width = static_cast<std::ptrdiff_t>(g.width);
    for (std::size_t c = c0; c < c1; ++c) {
        T.each_run(t0, t1, [&](std::size_t n, std::size_t ty, std::size_t tx0, std::size_t len, std::size_t at) {
            // Tiles whose 6 columns all lie inside the input row: [k_lo, k_hi) of the run, copied unchecked.
            const auto first = static_cast<std::ptrdiff_t>(4 * tx0) - pad_left;  // the run's first column
            std::size_t k_lo = 0, k_hi = len;
            while (k_lo < len && first + 4 * static_cast<std::ptrdiff_t>(k_lo) < 0) ++k_lo;
            while (k_hi > k_lo && first + 4 * static_cast<std::ptrdiff_t>(k_hi - 1) + 6 > width) --k_hi;
            for (std::size_t i = 0; i < 6; ++i) {
                const auto row = static_cast<std::ptrdiff_t>(4 * ty + i) - static_cast<std::ptrdiff_t>(g.pad_top);
                if (row < 0 || row >= static_cast<std::ptrdiff_t>(g.height)) {
                    for (std::size_t j = 0; j < 6; ++j) std::fill_n(d + (i * 6 + j) * ld + at, len, 0.0f);
                    continue;
                }
                const float* line = x + ((n * In + c) * g.height + static_cast<std::size_t>(row)) * g.width;
                float* dst = d + i * 6 * ld + at;  // point (i, j) at dst + j * ld
                const auto checked = [&](std::size_t k) {
                    for (std::size_t j = 0; j < 6; ++j) {
                        const std::ptrdiff_t col = first + static_cast<std::ptrdiff_t>(4 * k + j);
                        dst[j * ld + k] = col >= 0 && col < width ? line[col] : 0.0f;
                    }
                };
                for (std::size_t k = 0; k < k_lo; ++k) checked(k);
                for (std::size_t k = k_lo; k < k_hi; ++k) {  // the tile's six columns, read once
                    const float* src = line + first + static_cast<std::ptrdiff_t>(4 * k);
                    for (std::size_t j = 0; j < 6; ++j) dst[j * ld + k] = src[j];
                }
                for (std::size_t k = k_hi; k < len; ++k) checked(k);
            }
        });
        for (std::size_t p = 0; p < winograd_points; ++p) std::fill(d + p * ld + count, d + (p + 1) * ld, 0.0f);
        for (std::size_t l0 = 0; l0 < count; l0 += simd_width) {
            fbatch dv[winograd_points], t[winograd_points], u[winograd_points];
            for (std::size_t p = 0; p < winograd_points; ++p) dv[p] = fbatch::load_unaligned(d + p * ld + l0);
            for (std::size_t j = 0; j < 6; ++j) winograd_input_line(dv + j, 6, t + j, 6);       // B^T d
            for (std::size_t i = 0; i < 6; ++i) winograd_input_line(t + 6 * i, 1, u + 6 * i, 1);  // (B^T d) B
            for (std::size_t p = 0; p < winograd_points; ++p) u[p].store_unaligned(V + p * stride + c * ld + l0);
        }
    }
}

// Products M [36][Out][ld] of tiles [t0, t1), channels [o0, o1), back to y [N, Out, OH, OW]: A^T m A into
// e [16][ld] (L1), then each tile's 4 x 4 outputs, plus bias, each row run through epi_of(n) when that is a
// callable (an epilogue for sample n, with row()).
template <class EpiOf>
inline void winograd_outputs(const float* M, std::size_t ld, std::size_t Out, const ConvGeometry& g,
                             const WinogradTiles& T, std::size_t t0, std::size_t t1, std::size_t o0, std::size_t o1,
                             const float* bias, float* e, float* y, const EpiOf& epi_of) {
    const std::size_t count = t1 - t0, stride = winograd_point_stride(Out, ld), OH = g.out_height, OW = g.out_width;
    for (std::size_t o = o0; o < o1; ++o) {
        for (std::size_t l0 = 0; l0 < count; l0 += simd_width) {
            fbatch m[winograd_points], t[24], r[16];
            for (std::size_t p = 0; p < winograd_points; ++p) m[p] = fbatch::load_unaligned(M + p * stride + o * ld + l0);
            for (std::size_t j = 0; j < 6; ++j) winograd_output_line(m + j, 6, t + j, 6);       // A^T m
            for (std::size_t i = 0; i < 4; ++i) winograd_output_line(t + 6 * i, 1, r + 4 * i, 1);  // (A^T m) A
            for (std::size_t q = 0; q < 16; ++q) r[q].store_unaligned(e + q * ld + l0);
        }
        T.each_run(t0, t1, [&](std::size_t n, std::size_t ty, std::size_t tx0, std::size_t len, std::size_t at) {
            const std::size_t x0 = 4 * tx0, x1 = std::min(OW, 4 * (tx0 + len));
            const std::size_t whole = std::min(len, (OW - x0) / 4);  // tiles with all 4 columns inside
            for (std::size_t i = 0; i < 4 && 4 * ty + i < OH; ++i) {
                float* out = y + ((n * Out + o) * OH + 4 * ty + i) * OW;
                const float* src = e + i * 4 * ld + at;
                const float *e0 = src, *e1 = src + ld, *e2 = src + 2 * ld, *e3 = src + 3 * ld;
                for (std::size_t k = 0; k < whole; ++k) {  // the four columns interleaved
                    out[x0 + 4 * k] = e0[k];
                    out[x0 + 4 * k + 1] = e1[k];
                    out[x0 + 4 * k + 2] = e2[k];
                    out[x0 + 4 * k + 3] = e3[k];
                }
                for (std::size_t col = x0 + 4 * whole; col < x1; ++col) out[col] = src[(col % 4) * ld + whole];
                if (bias)
                    for (std::size_t col = x0; col < x1; ++col) out[col] += bias[o];
                if constexpr (std::is_invocable_v<const EpiOf&, std::size_t>)
                    epi_of(n).row(o, (4 * ty + i) * OW + x0, out + x0, out + x0, x1 - x0);
            }
        });
    }
}

}  // namespace detail

// U[p][o][c] = (G w[o][c] G^T)[p] for weights w [Out, In, 3, 3]; skipped when w equals the last call's.
inline void winograd_filters(const float* w, std::size_t Out, std::size_t In, WinogradScratch& s) {
    const std::size_t pairs = Out * In, n = pairs * 9;
    if (s.U.size() == winograd_points * pairs && s.weights.size() == n &&
        std::memcmp(s.weights.data(), w, n * sizeof(float)) == 0)
        return;
    s.U.resize(winograd_points * pairs);
    s.weights.assign(w, w + n);
    constexpr std::size_t W = simd_width;
    float* U = s.U.data();
    parallel_for((pairs + W - 1) / W, [&](std::size_t b, std::size_t e, std::size_t) {
        for (std::size_t v = b; v < e; ++v) {
            const std::size_t p0 = v * W, lanes = std::min(W, pairs - p0);
            if (lanes == W) {  // W filters lane by lane: their 9 taps gathered, transformed as vectors
                alignas(64) float g[9][W];
                for (std::size_t l = 0; l < W; ++l)
                    for (std::size_t k = 0; k < 9; ++k) g[k][l] = w[(p0 + l) * 9 + k];
                fbatch gv[9], u[winograd_points];
                for (std::size_t k = 0; k < 9; ++k) gv[k] = fbatch::load_aligned(g[k]);
                detail::winograd_filter(gv, u);
                for (std::size_t p = 0; p < winograd_points; ++p) u[p].store_unaligned(U + p * pairs + p0);
            } else {
                for (std::size_t l = 0; l < lanes; ++l) {
                    float u[winograd_points];
                    detail::winograd_filter(w + (p0 + l) * 9, u);
                    for (std::size_t p = 0; p < winograd_points; ++p) U[p * pairs + p0 + l] = u[p];
                }
            }
        }
    });
}

// Sizes s's buffers for N samples on the current threads. Each thread takes a contiguous run of the batch's
// tiles, in blocks of up to winograd_block_vectors vectors of tiles; with fewer than two vectors a thread, one
// block at a time runs with each step on all threads.
inline void winograd_prepare(WinogradScratch& s, std::size_t N, const ConvGeometry& g, std::size_t Out) {
    const WinogradTiles T(g, N);
    const std::size_t vectors = (T.count + simd_width - 1) / simd_width, threads = num_threads();
    s.parts = vectors >= 2 * threads ? parallel_parts(vectors) : 1;
    s.block = std::min(vectors, winograd_block_vectors) * simd_width;
    s.V.resize(s.parts * winograd_points * detail::winograd_point_stride(g.channels, s.block));
    s.M.resize(s.parts * winograd_points * detail::winograd_point_stride(Out, s.block));
    s.D.resize(threads * winograd_points * s.block);
    s.E.resize(threads * 16 * s.block);
}

namespace detail {

// Tiles [t0, t1) through the transform, the 36 products and the inverse transform; each step's range of
// channels, points or outputs split over the threads when `split` (one block in flight), else all on
// thread `part`.
template <class EpiOf>
void winograd_block(const float* x, const ConvGeometry& g, std::size_t Out, const WinogradTiles& T, WinogradScratch& s,
                    std::size_t t0, std::size_t t1, float* V, float* M, bool split, std::size_t part, const float* bias,
                    float* y, const EpiOf& epi_of) {
    const std::size_t In = g.channels, ld = (t1 - t0 + simd_width - 1) / simd_width * simd_width;
    const auto over = [&](std::size_t n, auto&& f) {
        if (split) parallel_for(n, [&](std::size_t b, std::size_t e, std::size_t t) { f(b, e, t); });
        else f(std::size_t{0}, n, part);
    };
    over(In, [&](std::size_t c0, std::size_t c1, std::size_t t) {
        winograd_inputs(x, g, T, t0, t1, c0, c1, s.D.data() + t * winograd_points * s.block, V, ld);
    });
    over(winograd_points, [&](std::size_t p0, std::size_t p1, std::size_t) {
        for (std::size_t p = p0; p < p1; ++p)
            gemm(Out, ld, In, row_major(s.U.data() + p * Out * In, In), V + p * winograd_point_stride(In, ld), ld,
                 M + p * winograd_point_stride(Out, ld), ld, false);
    });
    over(Out, [&](std::size_t o0, std::size_t o1, std::size_t t) {
        winograd_outputs(M, ld, Out, g, T, t0, t1, o0, o1, bias, s.E.data() + t * 16 * s.block, y, epi_of);
    });
}

}  // namespace detail

// y [N, Out, OH, OW] = the 3x3 stride-1 convolution of x [N, In, H, W] (geometry g) with the filters whose
// transform s.U holds (winograd_filters), plus bias (if not null), each output row stored through
// epi_of(n) when that is a callable (an epilogue for sample n), after winograd_prepare. Each tile is
// computed the same way whatever the batch or thread count, so neither changes a result.
template <class EpiOf = NoEpilogue>
void winograd_conv(const float* x, std::size_t N, const ConvGeometry& g, std::size_t Out, WinogradScratch& s,
                   const float* bias, float* y, const EpiOf& epi_of = {}) {
    const WinogradTiles T(g, N);
    const std::size_t vectors = (T.count + simd_width - 1) / simd_width;
    const std::size_t v_size = winograd_points * detail::winograd_point_stride(g.channels, s.block);
    const std::size_t m_size = winograd_points * detail::winograd_point_stride(Out, s.block);
    // Vectors [b, e) in blocks of at most s.block tiles, as even as whole vectors allow (13 vectors: 5, 4, 4,
    // not 6, 6, 1, whose last block would read all 36 filter matrices for one vector of tiles).
    const auto blocks = [&](std::size_t b, std::size_t e, auto&& f) {
        const std::size_t most = s.block / simd_width, count = (e - b + most - 1) / most;
        for (std::size_t k = 0; k < count; ++k) {
            const std::size_t v0 = b + (e - b) * k / count, v1 = b + (e - b) * (k + 1) / count;
            f(v0 * simd_width, std::min(T.count, v1 * simd_width));
        }
    };
    if (s.parts <= 1) {
        blocks(0, vectors, [&](std::size_t t0, std::size_t t1) {
            detail::winograd_block(x, g, Out, T, s, t0, t1, s.V.data(), s.M.data(), true, 0, bias, y, epi_of);
        });
        return;
    }
    parallel_for(vectors, [&](std::size_t b, std::size_t e, std::size_t part) {
        blocks(b, e, [&](std::size_t t0, std::size_t t1) {
            detail::winograd_block(x, g, Out, T, s, t0, t1, s.V.data() + part * v_size, s.M.data() + part * m_size,
                                   false, part, bias, y, epi_of);
        });
    });
}

}  // namespace mindsave::kernels
