// Vectorized element-wise kernels: ReLU forward/backward, residual add, row broadcasts and reductions, axpy.
// Each runs full xsimd batches, then a scalar tail.
#pragma once

#include <cmath>
#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "mindsave/nn/kernels/gemm.hpp"
#include "mindsave/nn/kernels/stream_store.hpp"

namespace mindsave::kernels {

// y = max(x, 0)
inline void relu(const float* x, float* y, std::size_t n) noexcept {
    const fbatch zero(0.0f);
    std::size_t i = 0;
    for (; i + simd_width <= n; i += simd_width) {
        // select rather than xsimd::max: GCC 12's AVX-512 max intrinsic trips -Wmaybe-uninitialized
        const fbatch v = fbatch::load_unaligned(x + i);
        xsimd::select(v > zero, v, zero).store_unaligned(y + i);
    }
    for (; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

// dx = y > 0 ? dy : 0
inline void relu_backward(const float* y, const float* dy, float* dx, std::size_t n) noexcept {
    const fbatch zero(0.0f);
    std::size_t i = 0;
    for (; i + simd_width <= n; i += simd_width) {
        const auto mask = fbatch::load_unaligned(y + i) > zero;
        xsimd::select(mask, fbatch::load_unaligned(dy + i), zero).store_unaligned(dx + i);
    }
    for (; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// y = max(a + b, 0): a residual block's sum and its closing ReLU in one pass.
inline void add_relu(const float* a, const float* b, float* y, std::size_t n) noexcept {
    const fbatch zero(0.0f);
    const std::size_t end = n - n % simd_width;
    for (std::size_t i = 0; i < end; i += simd_width) {
        const fbatch v = fbatch::load_unaligned(a + i) + fbatch::load_unaligned(b + i);
        xsimd::select(v > zero, v, zero).store_unaligned(y + i);
    }
    for (std::size_t i = end; i < n; ++i) {
        const float v = a[i] + b[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

// out = a + b
inline void add(const float* a, const float* b, float* out, std::size_t n) noexcept {
    const std::size_t end = n - n % simd_width;
    for (std::size_t i = 0; i < end; i += simd_width)
        (fbatch::load_unaligned(a + i) + fbatch::load_unaligned(b + i)).store_unaligned(out + i);
    for (std::size_t i = end; i < n; ++i) out[i] = a[i] + b[i];
}

// Each of `rows` rows of length n in y (row stride n) set to v.
inline void broadcast_rows(const float* v, float* y, std::size_t rows, std::size_t n) noexcept {
    for (std::size_t r = 0; r < rows; ++r) std::copy(v, v + n, y + r * n);
}

// out[j] = sum over rows of x[r, j]  (bias gradient of a dense layer)
inline void sum_rows(const float* x, std::size_t rows, std::size_t n, float* out) noexcept {
    std::fill(out, out + n, 0.0f);
    const std::size_t end = n - n % simd_width;  // hoisted: GCC 12 warns on j + W <= n once inlined
    for (std::size_t r = 0; r < rows; ++r) {
        const float* row = x + r * n;
        for (std::size_t j = 0; j < end; j += simd_width)
            (fbatch::load_unaligned(out + j) + fbatch::load_unaligned(row + j)).store_unaligned(out + j);
        for (std::size_t j = end; j < n; ++j) out[j] += row[j];
    }
}

// sum of x[0..n)
inline float sum(const float* x, std::size_t n) noexcept {
    fbatch acc(0.0f);
    std::size_t i = 0;
    for (; i + simd_width <= n; i += simd_width) acc += fbatch::load_unaligned(x + i);
    float s = xsimd::hadd(acc);
    for (; i < n; ++i) s += x[i];
    return s;
}

// y += a * x
inline void axpy(float a, const float* x, float* y, std::size_t n) noexcept {
    const fbatch va(a);
    std::size_t i = 0;
    for (; i + simd_width <= n; i += simd_width)
        xsimd::fma(va, fbatch::load_unaligned(x + i), fbatch::load_unaligned(y + i)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] += a * x[i];
}

// MindSpore's ApplyMomentum, reading var and accum and writing the results to var_out and accum_out
// (the same arrays, or others of the same size: an optimizer writing aside while a save reads the old ones):
// accum = accum * m + g; var -= lr * (nesterov ? g + accum * m : accum). With stream, a large output
// written aside goes around the caches (stream_store), so writing aside moves no more bytes than in place.
inline void apply_momentum_to(float* var_out, float* accum_out, const float* var, const float* accum, const float* grad,
                              float lr, float m, bool nesterov, std::size_t n, bool stream = false) noexcept {
    const fbatch vlr(lr), vm(m);
    stream = stream && stream_aligned(var_out) && stream_aligned(accum_out);
    std::size_t i = 0;
    for (; i + simd_width <= n; i += simd_width) {
        const fbatch g = fbatch::load_unaligned(grad + i);
        const fbatch a = xsimd::fma(fbatch::load_unaligned(accum + i), vm, g);
        const fbatch step = nesterov ? xsimd::fma(a, vm, g) : a;
        const fbatch v = xsimd::fnma(vlr, step, fbatch::load_unaligned(var + i));
        if (stream) {
            stream_store(accum_out + i, a);
            stream_store(var_out + i, v);
        } else {
            a.store_unaligned(accum_out + i);
            v.store_unaligned(var_out + i);
        }
    }
    if (stream) stream_fence();
    for (; i < n; ++i) {
        const float a = std::fma(accum[i], m, grad[i]);  // same rounding as the vector lanes
        accum_out[i] = a;
        var_out[i] = std::fma(-lr, nesterov ? std::fma(a, m, grad[i]) : a, var[i]);
    }
}

// ApplyMomentum in place.
inline void apply_momentum(float* var, float* accum, const float* grad, float lr, float m, bool nesterov,
                           std::size_t n) noexcept {
    apply_momentum_to(var, accum, var, accum, grad, lr, m, nesterov, n);
}

}  // namespace mindsave::kernels
