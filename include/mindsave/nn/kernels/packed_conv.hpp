// A convolution's input as packed_gemm's B operand: one sample read as its im2col matrix block by block,
// so no column matrix the size of the whole sample (7 MiB for ResNet50's 56x56x64 3x3s) is ever written.
#pragma once

#include <algorithm>
#include <cstddef>

#include "mindsave/nn/kernels/conv.hpp"
#include "mindsave/nn/kernels/packed_gemm.hpp"

namespace mindsave::kernels {

// B(k, j) = im2col(x)[k, j]: k = (c * K + ki) * K + kj, j = oh * OW + ow (conv.hpp's layout).
struct Im2colB {
    const float* x;  // one sample, CHW
    const ConvGeometry* g;

    void pack(std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, float* dst) const {
        constexpr std::size_t NR = packed_nr;
        const std::size_t panels = (nc + NR - 1) / NR;
        // each row of the block whole into a buffer (a copy per output row), then dealt into the panels
        float* row = detail::packed_space(2, panels * NR);
        std::fill(row + nc, row + panels * NR, 0.0f);
        for (std::size_t k = 0; k < kc; ++k) {
            fill(tap_of(k0 + k), j0, nc, row);
            for (std::size_t q = 0; q < panels; ++q)
                for (std::size_t v = 0; v < NR; v += simd_width)
                    fbatch::load_aligned(row + q * NR + v).store_aligned(dst + (q * kc + k) * NR + v);
        }
    }

private:
    struct Tap {
        const float* plane;     // input channel c
        std::ptrdiff_t ki, kj;  // kernel offsets minus padding
    };
    Tap tap_of(std::size_t k) const noexcept {
        const std::size_t K = g->kernel, c = k / (K * K), ki = k / K % K, kj = k % K;
        return {x + c * g->height * g->width, static_cast<std::ptrdiff_t>(ki) - static_cast<std::ptrdiff_t>(g->pad_top),
                static_cast<std::ptrdiff_t>(kj) - static_cast<std::ptrdiff_t>(g->pad_left)};
    }
    // out[0, n) = B(tap, j0 .. j0 + n): output row by output row, copying the span inside the input.
    void fill(const Tap& t, std::size_t j0, std::size_t n, float* out) const noexcept {
        const auto H = static_cast<std::ptrdiff_t>(g->height), W = static_cast<std::ptrdiff_t>(g->width);
        const auto S = static_cast<std::ptrdiff_t>(g->stride);
        const std::size_t OW = g->out_width;
        std::size_t oh = j0 / OW, ow = j0 % OW;
        for (std::size_t done = 0; done < n; ++oh, ow = 0) {
            const std::size_t count = std::min(OW - ow, n - done);
            float* o = out + done;
            done += count;
            const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh) * S + t.ki;
            if (ih < 0 || ih >= H) {
                std::fill(o, o + count, 0.0f);
                continue;
            }
            // the columns read inside the input, cut to this piece [first, last) of the row
            const auto first = static_cast<std::ptrdiff_t>(ow), last = first + static_cast<std::ptrdiff_t>(count);
            const auto inside = detail::inside_columns(t.kj, S, W, static_cast<std::ptrdiff_t>(OW));
            const std::ptrdiff_t lo = std::clamp(inside.lo, first, last), hi = std::clamp(inside.hi, lo, last);
            const float* in = t.plane + ih * W + t.kj;
            std::fill(o, o + (lo - first), 0.0f);
            if (S == 1) std::copy(in + lo, in + hi, o + (lo - first));
            else
                for (std::ptrdiff_t w = lo; w < hi; ++w) o[w - first] = in[w * S];
            std::fill(o + (hi - first), o + count, 0.0f);
        }
    }
};

}  // namespace mindsave::kernels
