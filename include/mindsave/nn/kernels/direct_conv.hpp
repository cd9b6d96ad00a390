// Direct (no im2col) convolution and weight gradient for small images: stride 1, every window inside
// the input (LeNet's valid convolutions). The taps stream through registers instead of a column buffer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>

#include "mindsave/nn/kernels/conv.hpp"
#include "mindsave/nn/kernels/gemm.hpp"

namespace mindsave::kernels {

// Which direct path a convolution takes (none: im2col + gemm instead).
enum class DirectConv { none, by_width, by_channel };

// Vector accumulators a register tile may hold: 24 of AVX-512's 32 registers, 12 of the 16 elsewhere.
inline constexpr std::size_t direct_accumulators = simd_width >= 16 ? 24 : 12;

// by_width: output rows are vectors (a row's last vector starts at OW - simd_width, overlapping the one
// before it, so no lane reads or writes past the row), every output channel in registers at once: for
// fewer channels than a vector holds and rows at least one vector wide (LeNet's conv1).
// by_channel: a vector holds simd_width output channels of one position, a block of positions along
// a row in registers, the result transposed into CHW: for one or two vectors of channels, at least
// half full (LeNet's conv2). These conditions are exactly the instantiations conv_direct has.
template <std::size_t Out>
constexpr DirectConv direct_conv_path(const ConvGeometry& g) noexcept {
    if (g.stride != 1 || g.pad_top != 0 || g.pad_left != 0 || g.out_height + g.kernel - 1 > g.height ||
        g.out_width + g.kernel - 1 > g.width)
        return DirectConv::none;
    const std::size_t row_vectors = (g.out_width + simd_width - 1) / simd_width;
    if (Out < simd_width && g.out_width >= simd_width && row_vectors <= 4 && Out * row_vectors <= direct_accumulators)
        return DirectConv::by_width;
    if (Out <= 2 * simd_width && 2 * Out >= simd_width) return DirectConv::by_channel;
    return DirectConv::none;
}

// The weights [Out, R] as by_channel reads them: [R, Outp] with Outp = Out rounded up to whole vectors,
// zero-padded. Returns Outp.
inline std::size_t pack_weights_by_tap(const float* w, std::size_t out_channels, std::size_t R, float* packed) noexcept {
    const std::size_t Outp = (out_channels + simd_width - 1) / simd_width * simd_width;
    for (std::size_t t = 0; t < R; ++t) {
        float* row = packed + t * Outp;
        for (std::size_t o = 0; o < out_channels; ++o) row[o] = w[o * R + t];
        std::fill(row + out_channels, row + Outp, 0.0f);
    }
    return Outp;
}

namespace detail {

// One output row, channels [0, Out), vectors starting at the given columns. w is [Out, C*K*K].
template <std::size_t Out, std::size_t NV>
inline void direct_row_by_width(const float* x, const ConvGeometry& g, const float* w, const float* bias,
                                const std::size_t (&starts)[NV], std::size_t oh, float* y) noexcept {
    const std::size_t H = g.height, W = g.width, K = g.kernel, R = g.col_rows(), P = g.col_cols();
    fbatch acc[Out][NV];
    for (std::size_t o = 0; o < Out; ++o)
        for (std::size_t v = 0; v < NV; ++v) acc[o][v] = fbatch(bias ? bias[o] : 0.0f);
    std::size_t t = 0;
    for (std::size_t c = 0; c < g.channels; ++c)
        for (std::size_t ki = 0; ki < K; ++ki) {
            const float* in = x + (c * H + oh + ki) * W;
            for (std::size_t kj = 0; kj < K; ++kj, ++t) {
                fbatch v_in[NV];
                for (std::size_t v = 0; v < NV; ++v) v_in[v] = fbatch::load_unaligned(in + kj + starts[v]);
                for (std::size_t o = 0; o < Out; ++o) {
                    const fbatch wv(w[o * R + t]);
                    for (std::size_t v = 0; v < NV; ++v) acc[o][v] = xsimd::fma(wv, v_in[v], acc[o][v]);
                }
            }
        }
    for (std::size_t o = 0; o < Out; ++o)
        for (std::size_t v = 0; v < NV; ++v) acc[o][v].store_unaligned(y + o * P + oh * g.out_width + starts[v]);
}

template <std::size_t Out, std::size_t NV>
inline void direct_conv_by_width(const float* x, const ConvGeometry& g, const float* w, const float* bias,
                                 float* y) noexcept {
    std::size_t starts[NV];
    for (std::size_t v = 0; v < NV; ++v) starts[v] = std::min(v * simd_width, g.out_width - simd_width);
    for (std::size_t oh = 0; oh < g.out_height; ++oh) direct_row_by_width<Out, NV>(x, g, w, bias, starts, oh, y);
}

// PB positions of one output row, from column ow0, all channels (OV vectors): acc[p][v] = channels
// [v * simd_width, (v + 1) * simd_width) at column ow0 + p, stored to out[p * OV * simd_width].
template <std::size_t OV, std::size_t PB>
inline void direct_block_by_channel(const float* x, const ConvGeometry& g, const float* packed, const float* bias,
                                    std::size_t oh, std::size_t ow0, float* out) noexcept {
    const std::size_t H = g.height, W = g.width, K = g.kernel;
    constexpr std::size_t ld = OV * simd_width;
    fbatch acc[PB][OV];
    for (std::size_t v = 0; v < OV; ++v) {
        const fbatch b = bias ? fbatch::load_unaligned(bias + v * simd_width) : fbatch(0.0f);
        for (std::size_t p = 0; p < PB; ++p) acc[p][v] = b;
    }
    const float* wt = packed;
    for (std::size_t c = 0; c < g.channels; ++c)
        for (std::size_t ki = 0; ki < K; ++ki) {
            const float* in = x + (c * H + oh + ki) * W + ow0;
            for (std::size_t kj = 0; kj < K; ++kj, wt += ld) {
                fbatch wv[OV];
                for (std::size_t v = 0; v < OV; ++v) wv[v] = fbatch::load_aligned(wt + v * simd_width);
                for (std::size_t p = 0; p < PB; ++p) {
                    const fbatch xv(in[kj + p]);
                    for (std::size_t v = 0; v < OV; ++v) acc[p][v] = xsimd::fma(wv[v], xv, acc[p][v]);
                }
            }
        }
    for (std::size_t p = 0; p < PB; ++p)
        for (std::size_t v = 0; v < OV; ++v) acc[p][v].store_aligned(out + p * ld + v * simd_width);
}

// The largest block that fits in registers, and every smaller one for a row's remainder.
template <std::size_t OV>
inline constexpr std::size_t block_positions = direct_accumulators / 2 / OV;

template <std::size_t OV, std::size_t... PB>
inline void direct_remainder_by_channel(std::index_sequence<PB...>, std::size_t n, const float* x,
                                        const ConvGeometry& g, const float* packed, const float* bias,
                                        std::size_t oh, std::size_t ow0, float* out) noexcept {
    ((n == PB + 1 ? direct_block_by_channel<OV, PB + 1>(x, g, packed, bias, oh, ow0, out) : void()), ...);
}

template <std::size_t OV>
inline void direct_conv_by_channel(const float* x, const ConvGeometry& g, const float* packed, const float* bias,
                                   std::size_t out_channels, float* scratch, float* y) noexcept {
    constexpr std::size_t PB = block_positions<OV>, ld = OV * simd_width;
    const std::size_t OW = g.out_width, P = g.col_cols();
    for (std::size_t oh = 0; oh < g.out_height; ++oh) {
        std::size_t ow = 0;
        for (; ow + PB <= OW; ow += PB)
            direct_block_by_channel<OV, PB>(x, g, packed, bias, oh, ow, scratch + (oh * OW + ow) * ld);
        if (ow < OW)
            direct_remainder_by_channel<OV>(std::make_index_sequence<PB - 1>{}, OW - ow, x, g, packed, bias, oh, ow,
                                            scratch + (oh * OW + ow) * ld);
    }
    // scratch [P, ld] -> y [out_channels, P]
    for (std::size_t o = 0; o < out_channels; ++o)
        for (std::size_t p = 0; p < P; ++p) y[o * P + p] = scratch[p * ld + o];
}

}  // namespace detail

// The weight gradient for by_width geometries, accumulated lane-wise: acc[(o * R + t) * simd_width + l]
// += this sample's products dy[o, oh, ow] * x[tap t shifted by (oh, ow)] over the positions lane l
// holds; weight_grad_reduce then sums the lanes. A row's last vector masks off the lanes the vector
// before it already covered, so each position counts once. Tiles of OT channels x K taps stay in
// registers over all rows.
template <std::size_t Out, std::size_t K, std::size_t NV>
inline void weight_grad_by_width(const float* x, const ConvGeometry& g, const float* dy, float* acc) noexcept {
    constexpr std::size_t OT = Out % 3 == 0 ? 3 : Out % 2 == 0 ? 2 : 1;
    const std::size_t H = g.height, W = g.width, OH = g.out_height, OW = g.out_width, P = g.col_cols();
    const std::size_t R = g.channels * K * K;
    std::size_t starts[NV];
    for (std::size_t v = 0; v < NV; ++v) starts[v] = std::min(v * simd_width, OW - simd_width);
    alignas(64) float lane_index[simd_width];
    for (std::size_t l = 0; l < simd_width; ++l) lane_index[l] = static_cast<float>(l);
    const auto fresh = fbatch::load_aligned(lane_index) >= fbatch(static_cast<float>((NV - 1) * simd_width - starts[NV - 1]));
    const fbatch zero(0.0f);
    for (std::size_t o0 = 0; o0 < Out; o0 += OT)
        for (std::size_t c = 0; c < g.channels; ++c)
            for (std::size_t ki = 0; ki < K; ++ki) {
                fbatch a[OT][K];
                float* at = acc + ((o0 * R) + (c * K + ki) * K) * simd_width;
                for (std::size_t j = 0; j < OT; ++j)
                    for (std::size_t kj = 0; kj < K; ++kj) a[j][kj] = fbatch::load_aligned(at + (j * R + kj) * simd_width);
                for (std::size_t oh = 0; oh < OH; ++oh) {
                    const float* in = x + (c * H + oh + ki) * W;
                    for (std::size_t v = 0; v < NV; ++v) {
                        fbatch d[OT];
                        for (std::size_t j = 0; j < OT; ++j) {
                            d[j] = fbatch::load_unaligned(dy + (o0 + j) * P + oh * OW + starts[v]);
                            if (v + 1 == NV) d[j] = xsimd::select(fresh, d[j], zero);
                        }
                        for (std::size_t kj = 0; kj < K; ++kj) {
                            const fbatch xv = fbatch::load_unaligned(in + starts[v] + kj);
                            for (std::size_t j = 0; j < OT; ++j) a[j][kj] = xsimd::fma(d[j], xv, a[j][kj]);
                        }
                    }
                }
                for (std::size_t j = 0; j < OT; ++j)
                    for (std::size_t kj = 0; kj < K; ++kj) a[j][kj].store_aligned(at + (j * R + kj) * simd_width);
            }
}

// The row vectors weight_grad_by_width takes for this geometry (0: it does not apply).
template <std::size_t Out>
constexpr std::size_t weight_grad_row_vectors(const ConvGeometry& g) noexcept {
    if (direct_conv_path<Out>(g) != DirectConv::by_width) return 0;
    return (g.out_width + simd_width - 1) / simd_width;
}

// Per part, the lanes weight_grad_by_width accumulates: Out * R vectors.
inline std::size_t weight_grad_lanes(std::size_t out_channels, std::size_t R) noexcept {
    return out_channels * R * simd_width;
}

// Dispatches on the row vectors (weight_grad_row_vectors, not 0).
template <std::size_t Out, std::size_t K>
inline void weight_grad_direct(std::size_t row_vectors, const float* x, const ConvGeometry& g, const float* dy,
                               float* acc) noexcept {
    switch (row_vectors) {
        case 1: return weight_grad_by_width<Out, K, 1>(x, g, dy, acc);
        case 2: return weight_grad_by_width<Out, K, 2>(x, g, dy, acc);
        case 3: return weight_grad_by_width<Out, K, 3>(x, g, dy, acc);
        default: return weight_grad_by_width<Out, K, 4>(x, g, dy, acc);
    }
}

// dw[i] = the lanes of every part's acc[i] summed, part by part in order.
inline void weight_grad_reduce(const float* acc, std::size_t parts, std::size_t stride, std::size_t n,
                               float* dw) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
        float s = 0.0f;
        for (std::size_t p = 0; p < parts; ++p) s += xsimd::hadd(fbatch::load_aligned(acc + p * stride + i * simd_width));
        dw[i] = s;
    }
}

namespace detail {
// KT kernel rows from ki0 of input channel c: acc[(t * OV + v) * simd_width] for their K * KT taps.
template <std::size_t OV, std::size_t K, std::size_t KT>
inline void weight_grad_rows_by_channel(const float* x, const ConvGeometry& g, const float* dyT, std::size_t c,
                                        std::size_t ki0, float* acc) noexcept {
    constexpr std::size_t ld = OV * simd_width;
    const std::size_t H = g.height, W = g.width, OW = g.out_width;
    float* at = acc + (c * K + ki0) * K * ld;
    fbatch a[KT][K][OV];
    for (std::size_t r = 0; r < KT; ++r)
        for (std::size_t kj = 0; kj < K; ++kj)
            for (std::size_t v = 0; v < OV; ++v) a[r][kj][v] = fbatch::load_aligned(at + (r * K + kj) * ld + v * simd_width);
    for (std::size_t oh = 0; oh < g.out_height; ++oh)
        for (std::size_t ow = 0; ow < OW; ++ow) {
            fbatch d[OV];
            for (std::size_t v = 0; v < OV; ++v) d[v] = fbatch::load_aligned(dyT + (oh * OW + ow) * ld + v * simd_width);
            for (std::size_t r = 0; r < KT; ++r) {
                const float* in = x + (c * H + oh + ki0 + r) * W + ow;
                for (std::size_t kj = 0; kj < K; ++kj) {
                    const fbatch xv(in[kj]);
                    for (std::size_t v = 0; v < OV; ++v) a[r][kj][v] = xsimd::fma(d[v], xv, a[r][kj][v]);
                }
            }
        }
    for (std::size_t r = 0; r < KT; ++r)
        for (std::size_t kj = 0; kj < K; ++kj)
            for (std::size_t v = 0; v < OV; ++v) a[r][kj][v].store_aligned(at + (r * K + kj) * ld + v * simd_width);
}
}  // namespace detail

// The weight gradient for by_channel geometries: acc[t * Outp + o] += sum over this sample's positions
// of dy[o, position] * x[tap t shifted by the position], with dyT the sample's output gradient
// position-major ([P, Outp], padding channels zero). Two kernel rows of taps stay in registers.
template <std::size_t Out, std::size_t K>
inline constexpr bool weight_grad_by_channel_fits =
    (Out + simd_width - 1) / simd_width <= 2 && 2 * K * ((Out + simd_width - 1) / simd_width) <= direct_accumulators;

template <std::size_t Out, std::size_t K>
inline void weight_grad_by_channel(const float* x, const ConvGeometry& g, const float* dyT, float* acc) noexcept {
    constexpr std::size_t OV = (Out + simd_width - 1) / simd_width;
    if constexpr (weight_grad_by_channel_fits<Out, K>) {
        for (std::size_t c = 0; c < g.channels; ++c) {
            std::size_t ki = 0;
            for (; ki + 2 <= K; ki += 2) detail::weight_grad_rows_by_channel<OV, K, 2>(x, g, dyT, c, ki, acc);
            if (ki < K) detail::weight_grad_rows_by_channel<OV, K, 1>(x, g, dyT, c, ki, acc);
        }
    }
}

// Whether weight_grad_by_channel applies to this layer and geometry.
template <std::size_t Out, std::size_t K>
constexpr bool weight_grad_by_channel_applies(const ConvGeometry& g) noexcept {
    return weight_grad_by_channel_fits<Out, K> && direct_conv_path<Out>(g) == DirectConv::by_channel;
}

// dyT[p, o] = dy[o, p] for one sample, channels padded with zeros to Outp.
inline void transpose_to_positions(const float* dy, std::size_t out_channels, std::size_t P, std::size_t Outp,
                                   float* dyT) noexcept {
    for (std::size_t p = 0; p < P; ++p) {
        float* row = dyT + p * Outp;
        for (std::size_t o = 0; o < out_channels; ++o) row[o] = dy[o * P + p];
        std::fill(row + out_channels, row + Outp, 0.0f);
    }
}

// dw[o, t] = every part's acc[t, o] summed, part by part in order.
inline void weight_grad_reduce_by_channel(const float* acc, std::size_t parts, std::size_t stride,
                                          std::size_t out_channels, std::size_t R, std::size_t Outp, float* dw) noexcept {
    for (std::size_t o = 0; o < out_channels; ++o)
        for (std::size_t t = 0; t < R; ++t) {
            float s = 0.0f;
            for (std::size_t p = 0; p < parts; ++p) s += acc[p * stride + t * Outp + o];
            dw[o * R + t] = s;
        }
}

// Floats of scratch conv_direct needs for one sample (by_channel's position-major result).
inline std::size_t direct_conv_scratch(const ConvGeometry& g, std::size_t out_channels) noexcept {
    return g.col_cols() * ((out_channels + simd_width - 1) / simd_width * simd_width);
}

// y[Out, OH, OW] = bias + the valid stride-1 convolution of one sample x[C, H, W] with w [Out, C, K, K],
// along the path direct_conv_path<Out>(g) chose (not none). by_width reads w and bias as they are;
// by_channel reads `packed` (pack_weights_by_tap) and a bias padded to whole vectors. bias may be null.
template <std::size_t Out>
inline void conv_direct(DirectConv path, const float* x, const ConvGeometry& g, const float* w, const float* packed,
                        const float* bias, float* scratch, float* y) noexcept {
    if (path == DirectConv::by_width) {
        if constexpr (Out < simd_width) {
            switch ((g.out_width + simd_width - 1) / simd_width) {
                case 1: return detail::direct_conv_by_width<Out, 1>(x, g, w, bias, y);
                case 2: if constexpr (2 * Out <= direct_accumulators) return detail::direct_conv_by_width<Out, 2>(x, g, w, bias, y); break;
                case 3: if constexpr (3 * Out <= direct_accumulators) return detail::direct_conv_by_width<Out, 3>(x, g, w, bias, y); break;
                case 4: if constexpr (4 * Out <= direct_accumulators) return detail::direct_conv_by_width<Out, 4>(x, g, w, bias, y); break;
                default: break;
            }
        }
    } else if (path == DirectConv::by_channel) {
        constexpr std::size_t OV = (Out + simd_width - 1) / simd_width;
        if constexpr (OV <= 2) return detail::direct_conv_by_channel<OV>(x, g, packed, bias, Out, scratch, y);
    }
}

}  // namespace mindsave::kernels
