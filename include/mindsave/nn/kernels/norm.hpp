// Vectorized per-plane kernels for batch normalization: centred sums, dot products and the affine
// maps y = a x + b, dx = a dy + b x + c that BatchNorm2d's forward and backward reduce to.
#pragma once

#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "mindsave/nn/kernels/gemm.hpp"

namespace mindsave::kernels {

// sum of (x[i] - mean)^2 over n values: the second pass of a two-pass variance, which stays
// accurate when the mean is large against the spread.
inline float sum_squared_deviation(const float* x, std::size_t n, float mean) noexcept {
    const fbatch m(mean);
    fbatch acc(0.0f);
    const std::size_t end = n - n % simd_width;
    for (std::size_t i = 0; i < end; i += simd_width) {
        const fbatch d = fbatch::load_unaligned(x + i) - m;
        acc = xsimd::fma(d, d, acc);
    }
    float s = xsimd::hadd(acc);
    for (std::size_t i = end; i < n; ++i) s += (x[i] - mean) * (x[i] - mean);
    return s;
}

// sum of dy[i] * (x[i] - mean): the batch-norm backward's correlation of gradient and input.
inline float dot_centered(const float* dy, const float* x, std::size_t n, float mean) noexcept {
    const fbatch m(mean);
    fbatch acc(0.0f);
    const std::size_t end = n - n % simd_width;
    for (std::size_t i = 0; i < end; i += simd_width)
        acc = xsimd::fma(fbatch::load_unaligned(dy + i), fbatch::load_unaligned(x + i) - m, acc);
    float s = xsimd::hadd(acc);
    for (std::size_t i = end; i < n; ++i) s += dy[i] * (x[i] - mean);
    return s;
}

// y = a * x + b over n values (normalization with its scale and shift folded into a and b).
inline void scale_shift(const float* x, float* y, std::size_t n, float a, float b) noexcept {
    const fbatch va(a), vb(b);
    const std::size_t end = n - n % simd_width;
    for (std::size_t i = 0; i < end; i += simd_width)
        xsimd::fma(va, fbatch::load_unaligned(x + i), vb).store_unaligned(y + i);
    for (std::size_t i = end; i < n; ++i) y[i] = a * x[i] + b;
}

// dx = a * dy + b * x + c over n values (the training-mode batch-norm input gradient).
inline void affine2(const float* dy, const float* x, float* dx, std::size_t n, float a, float b, float c) noexcept {
    const fbatch va(a), vb(b), vc(c);
    const std::size_t end = n - n % simd_width;
    for (std::size_t i = 0; i < end; i += simd_width) {
        const fbatch t = xsimd::fma(vb, fbatch::load_unaligned(x + i), vc);
        xsimd::fma(va, fbatch::load_unaligned(dy + i), t).store_unaligned(dx + i);
    }
    for (std::size_t i = end; i < n; ++i) dx[i] = a * dy[i] + (b * x[i] + c);
}

}  // namespace mindsave::kernels
