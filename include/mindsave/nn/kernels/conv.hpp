// im2col / col2im for 2-D convolution with stride and zero padding (one sample, CHW).
// Conv2d turns its forward and backward into gemm over these column buffers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "mindsave/nn/kernels/gemm.hpp"

namespace mindsave::kernels {

namespace detail {
// out[0, n) = in[0, n) for the short rows of small images: vectors where they fit, then scalars.
// (Only the default architecture's batch: the library imposes no -march on its users.)
inline void copy_row(float* out, const float* in, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; i + simd_width <= n; i += simd_width) fbatch::load_unaligned(in + i).store_unaligned(out + i);
    for (; i < n; ++i) out[i] = in[i];
}
inline void add_row(float* out, const float* in, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; i + simd_width <= n; i += simd_width)
        (fbatch::load_unaligned(out + i) + fbatch::load_unaligned(in + i)).store_unaligned(out + i);
    for (; i < n; ++i) out[i] += in[i];
}
}  // namespace detail

namespace detail {
// Output columns [lo, hi) of a row whose input column ow * S + dj lies inside [0, W), within [0, OW).
struct ColumnSpan {
    std::ptrdiff_t lo, hi;
};
inline ColumnSpan inside_columns(std::ptrdiff_t dj, std::ptrdiff_t S, std::ptrdiff_t W, std::ptrdiff_t OW) noexcept {
    const std::ptrdiff_t hi = std::min(W - dj <= 0 ? 0 : (W - dj - 1) / S + 1, OW);
    return {std::min(dj >= 0 ? 0 : (-dj + S - 1) / S, hi), hi};
}
}  // namespace detail

struct ConvGeometry {
    std::size_t channels, height, width;  // input, one sample
    std::size_t kernel, stride;
    std::size_t pad_top, pad_left;
    std::size_t out_height, out_width;

    std::size_t col_rows() const noexcept { return channels * kernel * kernel; }
    std::size_t col_cols() const noexcept { return out_height * out_width; }
};

namespace detail {
// Stride 1 and every window inside the input (LeNet's valid convolutions): each output row is a
// straight copy. Rows are copied whole vectors at a time, the overhang overwritten by the next row,
// as long as the reads stay inside this sample's input. False when it does not apply.
inline bool im2col_valid_s1(const float* x, const ConvGeometry& g, float* col, std::size_t ld,
                            std::size_t width) noexcept {
    const std::size_t H = g.height, W = g.width, K = g.kernel, OH = g.out_height, OW = g.out_width;
    const std::size_t span = (OW + simd_width - 1) / simd_width * simd_width;  // floats copied per row
    if (g.stride != 1 || g.pad_top != 0 || g.pad_left != 0 || OH + K - 1 > H || OW + K - 1 > W || OH < 2 ||
        span > 2 * OW || (H - 2) * W + K - 1 + span > H * W)  // the last overhanging read ends in the plane
        return false;
    const std::size_t P = OH * OW;
    for (std::size_t c = 0; c < g.channels; ++c) {
        for (std::size_t ki = 0; ki < K; ++ki) {
            for (std::size_t kj = 0; kj < K; ++kj) {
                float* row = col + ((c * K + ki) * K + kj) * ld;
                const float* in = x + (c * H + ki) * W + kj;
                for (std::size_t oh = 0; oh + 1 < OH; ++oh)
                    for (std::size_t v = 0; v < span; v += simd_width)
                        fbatch::load_unaligned(in + oh * W + v).store_unaligned(row + oh * OW + v);
                copy_row(row + (OH - 1) * OW, in + (OH - 1) * W, OW);
                std::fill(row + P, row + width, 0.0f);
            }
        }
    }
    return true;
}
}  // namespace detail

// col[(c*K + ki)*K + kj, oh*OW + ow] = x[c, oh*S + ki - pad_top, ow*S + kj - pad_left], 0 outside.
// Rows are ld >= width apart (0: col_cols()); columns [col_cols(), width) are zeroed, so a gemm may
// run over whole vectors.
inline void im2col(const float* x, const ConvGeometry& g, float* col, std::size_t ld = 0,
                   std::size_t width = 0) noexcept {
    if (ld == 0) ld = g.col_cols();
    if (width == 0) width = ld;
    if (detail::im2col_valid_s1(x, g, col, ld, width)) return;
    const auto H = static_cast<std::ptrdiff_t>(g.height), W = static_cast<std::ptrdiff_t>(g.width);
    const auto S = static_cast<std::ptrdiff_t>(g.stride);
    for (std::size_t c = 0; c < g.channels; ++c) {
        const float* xc = x + c * g.height * g.width;
        for (std::size_t ki = 0; ki < g.kernel; ++ki) {
            for (std::size_t kj = 0; kj < g.kernel; ++kj) {
                float* row = col + ((c * g.kernel + ki) * g.kernel + kj) * ld;
                std::fill(row + g.col_cols(), row + width, 0.0f);
                const auto dj = static_cast<std::ptrdiff_t>(kj) - static_cast<std::ptrdiff_t>(g.pad_left);
                const auto [ow_lo, ow_hi] = detail::inside_columns(dj, S, W, static_cast<std::ptrdiff_t>(g.out_width));
                for (std::size_t oh = 0; oh < g.out_height; ++oh) {
                    float* out = row + oh * g.out_width;
                    const auto ih = static_cast<std::ptrdiff_t>(oh) * S + static_cast<std::ptrdiff_t>(ki) -
                                    static_cast<std::ptrdiff_t>(g.pad_top);
                    if (ih < 0 || ih >= H) {
                        std::fill(out, out + g.out_width, 0.0f);
                        continue;
                    }
                    const float* in = xc + ih * W + dj;
                    std::fill(out, out + ow_lo, 0.0f);
                    if (S == 1) {
                        detail::copy_row(out + ow_lo, in + ow_lo, static_cast<std::size_t>(ow_hi - ow_lo));
                    } else {
                        for (std::ptrdiff_t ow = ow_lo; ow < ow_hi; ++ow) out[ow] = in[ow * S];
                    }
                    std::fill(out + ow_hi, out + g.out_width, 0.0f);
                }
            }
        }
    }
}

// The adjoint of im2col: dx[c, ih, iw] += every col entry that im2col copied from it.
namespace detail {
// col2im_add for stride 1, every window inside: whole vectors, the lanes past a row's end adding
// zero, where the vector stays inside this sample's dx and inside the readable `width` of the row.
inline bool col2im_valid_s1(const float* col, const ConvGeometry& g, float* dx, std::size_t ld,
                            std::size_t width) noexcept {
    const std::size_t H = g.height, W = g.width, K = g.kernel, OH = g.out_height, OW = g.out_width;
    const std::size_t span = (OW + simd_width - 1) / simd_width * simd_width;
    if (g.stride != 1 || g.pad_top != 0 || g.pad_left != 0 || OH + K - 1 > H || OW + K - 1 > W ||
        (OH - 1) * OW + span > width || span > 4 * simd_width)
        return false;
    alignas(64) float lane_index[simd_width];
    for (std::size_t l = 0; l < simd_width; ++l) lane_index[l] = static_cast<float>(l);
    const fbatch lanes = fbatch::load_aligned(lane_index), zero(0.0f);
    const float* end = dx + g.channels * H * W;
    for (std::size_t c = 0; c < g.channels; ++c) {
        for (std::size_t ki = 0; ki < K; ++ki) {
            for (std::size_t kj = 0; kj < K; ++kj) {
                const float* row = col + ((c * K + ki) * K + kj) * ld;
                float* out = dx + (c * H + ki) * W + kj;
                for (std::size_t oh = 0; oh < OH; ++oh) {
                    float* o = out + oh * W;
                    const float* in = row + oh * OW;
                    if (o + span > end) {
                        add_row(o, in, OW);
                        continue;
                    }
                    for (std::size_t v = 0; v < span; v += simd_width) {
                        const auto keep = lanes < fbatch(static_cast<float>(OW - v));
                        const fbatch add = xsimd::select(keep, fbatch::load_unaligned(in + v), zero);
                        (fbatch::load_unaligned(o + v) + add).store_unaligned(o + v);
                    }
                }
            }
        }
    }
    return true;
}

// col2im for stride 1, no padding, input rows no wider than one vector (LeNet's conv2 with AVX-512):
// each dx row is gathered in a register from its K*K shifted column rows and stored once, instead of
// K*K read-modify-writes of overlapping unaligned vectors, which stall on store forwarding. Every
// dx entry still sums its terms in (ki, kj) order from zero, as the scatter does: the same bits.
// Overwrites dx (no zeroing needed). False when it does not apply.
inline bool col2im_gather_s1(const float* col, const ConvGeometry& g, float* dx, std::size_t ld,
                             std::size_t width) noexcept {
    const std::size_t H = g.height, W = g.width, K = g.kernel, OH = g.out_height, OW = g.out_width;
    if (g.stride != 1 || g.pad_top != 0 || g.pad_left != 0 || OH + K - 1 > H || OW + K - 1 > W ||
        W > simd_width || (OH - 1) * OW + simd_width > width)
        return false;
    alignas(64) float lane_index[simd_width];
    for (std::size_t l = 0; l < simd_width; ++l) lane_index[l] = static_cast<float>(l);
    const fbatch lanes = fbatch::load_aligned(lane_index), zero(0.0f);
    const std::size_t plane_end = g.channels * H * W;
    for (std::size_t c = 0; c < g.channels; ++c) {
        for (std::size_t ih = 0; ih < H; ++ih) {
            fbatch acc = zero;
            const std::size_t ki_lo = ih + 1 > OH ? ih + 1 - OH : 0, ki_hi = std::min(K, ih + 1);
            for (std::size_t ki = ki_lo; ki < ki_hi; ++ki) {
                const std::size_t oh = ih - ki;
                for (std::size_t kj = 0; kj < K; ++kj) {
                    // lane iw takes column ow = iw - kj: a load from kj floats before the output row
                    const auto fkj = static_cast<float>(kj);
                    const auto keep = (lanes >= fbatch(fkj)) & (lanes < fbatch(fkj + static_cast<float>(OW)));
                    const float* row = col + ((c * K + ki) * K + kj) * ld + oh * OW;
                    fbatch v;
                    if (row >= col + kj) {
                        v = fbatch::load_unaligned(row - kj);
                    } else {  // the very first row: nothing of ours lies before it
                        alignas(64) float tmp[2 * simd_width] = {};
                        std::copy(row, row + OW, tmp + kj);
                        v = fbatch::load_aligned(tmp);
                    }
                    acc += xsimd::select(keep, v, zero);
                }
            }
            const std::size_t at = (c * H + ih) * W;
            if (at + simd_width <= plane_end) {
                acc.store_unaligned(dx + at);  // the overhang is the next row's, stored after this one
            } else {
                alignas(64) float tmp[simd_width];
                acc.store_aligned(tmp);
                std::copy(tmp, tmp + W, dx + at);
            }
        }
    }
    return true;
}
}  // namespace detail

// dx = the adjoint of im2col applied to col (dx overwritten, not accumulated).
inline void col2im(const float* col, const ConvGeometry& g, float* dx, std::size_t ld = 0,
                   std::size_t width = 0) noexcept;

// Rows of col are ld apart (0: col_cols()), each readable up to `width` (0: ld).
inline void col2im_add(const float* col, const ConvGeometry& g, float* dx, std::size_t ld = 0,
                       std::size_t width = 0) noexcept {
    if (ld == 0) ld = g.col_cols();
    if (width == 0) width = ld;
    if (detail::col2im_valid_s1(col, g, dx, ld, width)) return;
    const auto H = static_cast<std::ptrdiff_t>(g.height), W = static_cast<std::ptrdiff_t>(g.width);
    const auto S = static_cast<std::ptrdiff_t>(g.stride);
    for (std::size_t c = 0; c < g.channels; ++c) {
        float* dxc = dx + c * g.height * g.width;
        for (std::size_t ki = 0; ki < g.kernel; ++ki) {
            for (std::size_t kj = 0; kj < g.kernel; ++kj) {
                const float* row = col + ((c * g.kernel + ki) * g.kernel + kj) * ld;
                const auto dj = static_cast<std::ptrdiff_t>(kj) - static_cast<std::ptrdiff_t>(g.pad_left);
                const auto [ow_lo, ow_hi] = detail::inside_columns(dj, S, W, static_cast<std::ptrdiff_t>(g.out_width));
                for (std::size_t oh = 0; oh < g.out_height; ++oh) {
                    const auto ih = static_cast<std::ptrdiff_t>(oh) * S + static_cast<std::ptrdiff_t>(ki) -
                                    static_cast<std::ptrdiff_t>(g.pad_top);
                    if (ih < 0 || ih >= H) continue;
                    const float* in = row + oh * g.out_width;
                    float* out = dxc + ih * W + dj;
                    if (S == 1) {  // contiguous: lets the compiler vectorize
                        if (ow_hi > ow_lo) detail::add_row(out + ow_lo, in + ow_lo, static_cast<std::size_t>(ow_hi - ow_lo));
                    } else {
                        for (std::ptrdiff_t ow = ow_lo; ow < ow_hi; ++ow) out[ow * S] += in[ow];
                    }
                }
            }
        }
    }
}

inline void col2im(const float* col, const ConvGeometry& g, float* dx, std::size_t ld, std::size_t width) noexcept {
    if (ld == 0) ld = g.col_cols();
    if (width == 0) width = ld;
    if (detail::col2im_gather_s1(col, g, dx, ld, width)) return;
    std::fill(dx, dx + g.channels * g.height * g.width, 0.0f);
    col2im_add(col, g, dx, ld, width);
}

}  // namespace mindsave::kernels
