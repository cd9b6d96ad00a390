// What a product does to each finished entry of C before storing it, in inference: a per-row (output
// channel) scale and shift (BatchNorm folded in), a residual added, a ReLU, so none needs a pass of its own.
#pragma once

#include <cmath>
#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "mindsave/nn/kernels/gemm.hpp"

namespace mindsave::kernels {

// C(i, j) = max?(fma(scale[i], v, shift[i]) + add[i * ld_add + j], 0), in that order: the same rounding as
// BatchNorm2d's scale_shift, then add_relu, on the stored value, so a fused layer gives the unfused bits.
// Null scale / shift / add leave that step out.
struct ChannelEpilogue {
    const float* scale = nullptr;
    const float* shift = nullptr;
    const float* add = nullptr;
    std::size_t ld_add = 0;
    bool relu = false;

    fbatch operator()(std::size_t i, std::size_t j, fbatch v) const noexcept {
        if (scale) v = xsimd::fma(fbatch(scale[i]), v, fbatch(shift[i]));
        if (add) v = v + fbatch::load_unaligned(add + i * ld_add + j);
        if (relu) v = xsimd::select(v > fbatch(0.0f), v, fbatch(0.0f));
        return v;
    }
    float operator()(std::size_t i, std::size_t j, float v) const noexcept {
        if (scale) v = std::fma(scale[i], v, shift[i]);
        if (add) v = v + add[i * ld_add + j];
        if (relu) v = v > 0.0f ? v : 0.0f;
        return v;
    }

    // The same epilogue for the rows from r0 on, numbered from 0 (a product split by rows over threads).
    ChannelEpilogue from_row(std::size_t r0) const noexcept {
        ChannelEpilogue e = *this;
        if (scale) e.scale += r0, e.shift += r0;
        if (add) e.add += r0 * ld_add;
        return e;
    }

    // Row i's entries [j0, j0 + n) of src written through the epilogue to dst (src may be dst).
    void row(std::size_t i, std::size_t j0, const float* src, float* dst, std::size_t n) const noexcept {
        std::size_t j = 0;
        for (; j + simd_width <= n; j += simd_width)
            (*this)(i, j0 + j, fbatch::load_unaligned(src + j)).store_unaligned(dst + j);
        for (; j < n; ++j) dst[j] = (*this)(i, j0 + j, src[j]);
    }
};

}  // namespace mindsave::kernels
