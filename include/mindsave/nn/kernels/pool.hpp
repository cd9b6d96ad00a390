// Pooling kernels: max and average over K x K windows, stride S, padding clipped off each window, and
// the global mean of each H x W plane. Windows are tiny (2x2, 3x3): those loops stay scalar.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "mindsave/nn/kernels/elementwise.hpp"

namespace mindsave::kernels {

// Input size, window and padding of one pooling call; planes are N*C independent H x W images.
struct PoolGeometry {
    std::size_t planes, height, width;
    std::size_t kernel, stride;
    std::size_t pad_top, pad_left;
    std::size_t out_height, out_width;
};

namespace detail {
// The input rows (or columns) [lo, hi) that output index o's window covers after clipping.
inline void window(std::size_t o, std::size_t stride, std::size_t pad, std::size_t kernel, std::size_t size,
                   std::size_t& lo, std::size_t& hi) noexcept {
    const std::size_t start = o * stride;  // in padded coordinates
    lo = start >= pad ? start - pad : 0;
    hi = std::min(size, start + kernel > pad ? start + kernel - pad : 0);
    lo = std::min(lo, hi);
}

// Calls f(p, o, i0, i1, j0, j1) for every output o = (p * OH + oh) * OW + ow, plane p, with the input
// rows [i0, i1) and columns [j0, j1) its window covers after clipping.
template <class F>
inline void for_each_window(const PoolGeometry& g, F&& f) {
    for (std::size_t p = 0; p < g.planes; ++p)
        for (std::size_t oh = 0; oh < g.out_height; ++oh) {
            std::size_t i0, i1;
            window(oh, g.stride, g.pad_top, g.kernel, g.height, i0, i1);
            for (std::size_t ow = 0; ow < g.out_width; ++ow) {
                std::size_t j0, j1;
                window(ow, g.stride, g.pad_left, g.kernel, g.width, j0, j1);
                f(p, (p * g.out_height + oh) * g.out_width + ow, i0, i1, j0, j1);
            }
        }
}
}  // namespace detail

namespace detail {
// One 2x2 window whose top-left input is r0[j], in max_pool's scan order, strict >: the first maximum
// wins. Selects, not branches: with real data each comparison is a coin toss the predictor loses.
inline void max_pool_2x2_window(const float* r0, const float* r1, std::size_t j, float& best,
                                std::uint32_t& where) noexcept {
    const float v0 = r0[j], v1 = r0[j + 1], v2 = r1[j], v3 = r1[j + 1];
    best = -std::numeric_limits<float>::infinity();
    where = 0;
    best = std::max(best, v0);  // keeps best on ties and NaN, as the strict > does
    std::uint32_t c = v1 > best;
    where += c * (1u - where);
    best = std::max(best, v1);
    c = v2 > best;
    where += c * (2u - where);
    best = std::max(best, v2);
    c = v3 > best;
    where += c * (3u - where);
    best = std::max(best, v3);
}
}  // namespace detail

namespace detail {
// Lane order for max_pool_2x2: a vector of 2n input columns becomes [even columns | odd columns]
// (pairs_first) or [odd | even] (pairs_second), so lane i < n holds both columns of window i.
struct pairs_first {
    static constexpr std::uint32_t get(std::size_t i, std::size_t n) noexcept {
        return static_cast<std::uint32_t>(i < n / 2 ? 2 * i : 2 * (i - n / 2) + 1);
    }
};
struct pairs_second {
    static constexpr std::uint32_t get(std::size_t i, std::size_t n) noexcept {
        return static_cast<std::uint32_t>(i < n / 2 ? 2 * i + 1 : 2 * (i - n / 2));
    }
};
}  // namespace detail

// GCC 12 reports the deliberately undefined operand inside its own AVX-512 permute intrinsic as
// maybe uninitialized (a known false positive); nothing uninitialized is read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// max_pool for 2x2 windows, stride 2, no padding. One vector load per input row gives simd_width / 2
// windows: a lane permutation puts each window's two columns in the same lane of two vectors, and
// the scan is the scalar window's compares and selects, lane by lane. Stores run a full vector (the
// upper lanes are rewritten by the next store) except near the end of y; the last windows before the
// end of x, whose loads would run past it, go the scalar way.
inline void max_pool_2x2(const float* x, const PoolGeometry& g, float* y, std::uint32_t* argmax) noexcept {
    using ubatch = xsimd::batch<std::uint32_t>;
    using ibatch = xsimd::batch<std::int32_t>;
    constexpr std::size_t half = simd_width / 2;
    const std::size_t H = g.height, W = g.width, OH = g.out_height, OW = g.out_width;
    const float* x_end = x + g.planes * H * W;
    const float* y_end = y + g.planes * OH * OW;
    const auto first = xsimd::make_batch_constant<ubatch, detail::pairs_first>();
    const auto second = xsimd::make_batch_constant<ubatch, detail::pairs_second>();
    alignas(64) std::int32_t lane2[simd_width];
    for (std::size_t l = 0; l < simd_width; ++l) lane2[l] = static_cast<std::int32_t>(2 * l);
    const ibatch lane_offset = ibatch::load_aligned(lane2);
    const fbatch ninf(-std::numeric_limits<float>::infinity()), zero(0.0f), one(1.0f);
    const fbatch below(static_cast<float>(W)), below_right(static_cast<float>(W + 1));
    for (std::size_t p = 0; p < g.planes; ++p) {
        const float* xp = x + p * H * W;
        float* yp = y + p * OH * OW;
        std::uint32_t* ap = argmax + p * OH * OW;
        for (std::size_t oh = 0; oh < OH; ++oh) {
            const float* r0 = xp + 2 * oh * W;
            const float* r1 = r0 + W;
            const auto base = static_cast<std::uint32_t>(2 * oh * W);
            float* yo = yp + oh * OW;
            std::uint32_t* ao = ap + oh * OW;
            std::size_t ow = 0;
            for (; ow < OW && r1 + 2 * ow + simd_width <= x_end && yo + ow + simd_width <= y_end; ow += half) {
                const fbatch a = fbatch::load_unaligned(r0 + 2 * ow), b = fbatch::load_unaligned(r1 + 2 * ow);
                const fbatch v0 = xsimd::swizzle(a, first), v1 = xsimd::swizzle(a, second);
                const fbatch v2 = xsimd::swizzle(b, first), v3 = xsimd::swizzle(b, second);
                fbatch best = xsimd::select(ninf < v0, v0, ninf), where = zero;
                auto c = v1 > best;
                where = xsimd::select(c, one, where);
                best = xsimd::select(c, v1, best);
                c = v2 > best;
                where = xsimd::select(c, below, where);
                best = xsimd::select(c, v2, best);
                c = v3 > best;
                where = xsimd::select(c, below_right, where);
                best = xsimd::select(c, v3, best);
                best.store_unaligned(yo + ow);
                const ibatch at = xsimd::to_int(where) + lane_offset + ibatch(static_cast<std::int32_t>(base + 2 * ow));
                xsimd::bitwise_cast<ubatch>(at).store_unaligned(ao + ow);
            }
            for (; ow < OW; ++ow) {
                float best;
                std::uint32_t where;
                detail::max_pool_2x2_window(r0, r1, 2 * ow, best, where);
                yo[ow] = best;
                ao[ow] = base + static_cast<std::uint32_t>(2 * ow) + (where & 1u) +
                         (where >> 1) * static_cast<std::uint32_t>(W);
            }
        }
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// y = window maximum, argmax = its input index within the plane. Padding never wins: windows are
// clipped to the input, which is what MindSpore's -inf padding amounts to.
inline void max_pool(const float* x, const PoolGeometry& g, float* y, std::uint32_t* argmax) noexcept {
    const std::size_t H = g.height, W = g.width, OH = g.out_height, OW = g.out_width;
    if (g.kernel == 2 && g.stride == 2 && g.pad_top == 0 && g.pad_left == 0 && 2 * OH <= H && 2 * OW <= W) {
        max_pool_2x2(x, g, y, argmax);  // LeNet's pools: the same result without the window arithmetic
        return;
    }
    detail::for_each_window(g, [&](std::size_t p, std::size_t o, std::size_t i0, std::size_t i1, std::size_t j0,
                                   std::size_t j1) {
        const float* xp = x + p * H * W;
        float best = -std::numeric_limits<float>::infinity();
        auto where = static_cast<std::uint32_t>(i0 * W + j0);
        for (std::size_t i = i0; i < i1; ++i) {
            const float* r = xp + i * W;
            for (std::size_t j = j0; j < j1; ++j) {
                if (r[j] > best) {  // first maximum wins, as MindSpore's MaxPoolGrad does
                    best = r[j];
                    where = static_cast<std::uint32_t>(i * W + j);
                }
            }
        }
        y[o] = best;
        argmax[o] = where;
    });
}

// dx = 0, then each output gradient goes to its argmax position.
inline void max_pool_backward(const float* dy, const std::uint32_t* argmax, std::size_t planes, std::size_t HW,
                              std::size_t OHW, float* dx) noexcept {
    for (std::size_t p = 0; p < planes; ++p) {
        float* dxp = dx + p * HW;
        std::fill(dxp, dxp + HW, 0.0f);
        for (std::size_t o = 0; o < OHW; ++o) dxp[argmax[p * OHW + o]] += dy[p * OHW + o];
    }
}

// The divisor of one average-pooling window: K*K when padding counts, else the window inside the input.
inline float avg_divisor(const PoolGeometry& g, std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1,
                         bool count_include_pad) noexcept {
    return static_cast<float>(count_include_pad ? g.kernel * g.kernel : (i1 - i0) * (j1 - j0));
}

// y = window mean.
inline void avg_pool(const float* x, const PoolGeometry& g, bool count_include_pad, float* y) noexcept {
    const std::size_t W = g.width;
    detail::for_each_window(g, [&](std::size_t p, std::size_t o, std::size_t i0, std::size_t i1, std::size_t j0,
                                   std::size_t j1) {
        const float* xp = x + p * g.height * W;
        float s = 0.0f;
        for (std::size_t i = i0; i < i1; ++i)
            for (std::size_t j = j0; j < j1; ++j) s += xp[i * W + j];
        y[o] = s / avg_divisor(g, i0, i1, j0, j1, count_include_pad);
    });
}

// dx = 0, then each output gradient spread evenly over its window.
inline void avg_pool_backward(const float* dy, const PoolGeometry& g, bool count_include_pad, float* dx) noexcept {
    const std::size_t W = g.width;
    std::fill(dx, dx + g.planes * g.height * W, 0.0f);
    detail::for_each_window(g, [&](std::size_t p, std::size_t o, std::size_t i0, std::size_t i1, std::size_t j0,
                                   std::size_t j1) {
        float* dxp = dx + p * g.height * W;
        const float share = dy[o] / avg_divisor(g, i0, i1, j0, j1, count_include_pad);
        for (std::size_t i = i0; i < i1; ++i)
            for (std::size_t j = j0; j < j1; ++j) dxp[i * W + j] += share;
    });
}

// y[p] = mean of plane p (HW values), vectorized along the plane.
inline void global_avg_pool(const float* x, std::size_t planes, std::size_t HW, float* y) noexcept {
    const float inv = 1.0f / static_cast<float>(HW);
    for (std::size_t p = 0; p < planes; ++p) y[p] = sum(x + p * HW, HW) * inv;
}

// dx over plane p = dy[p] / HW.
inline void global_avg_pool_backward(const float* dy, std::size_t planes, std::size_t HW, float* dx) noexcept {
    const float inv = 1.0f / static_cast<float>(HW);
    for (std::size_t p = 0; p < planes; ++p) std::fill(dx + p * HW, dx + (p + 1) * HW, dy[p] * inv);
}

}  // namespace mindsave::kernels
