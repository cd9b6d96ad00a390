// Non-temporal stores of whole xsimd batches: writing a large output no one reads soon without first
// reading each of its cache lines (read for ownership), which costs as much memory traffic again.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "mindsave/nn/kernels/gemm.hpp"

namespace mindsave::kernels {

// Whether p can take stream_store: aligned to a whole batch, as every intrinsic and the fallback need.
inline bool stream_aligned(const float* p) noexcept {
    return reinterpret_cast<std::uintptr_t>(p) % (simd_width * sizeof(float)) == 0;
}

// Stores v at p (aligned, see stream_aligned) bypassing the caches where the target has such a store.
inline void stream_store(float* p, const fbatch& v) noexcept {
#if defined(__AVX512F__)
    static_assert(simd_width == 16);
    _mm512_stream_ps(p, v);
#elif defined(__AVX__)
    static_assert(simd_width == 8);
    _mm256_stream_ps(p, v);
#elif defined(__SSE__)
    static_assert(simd_width == 4);
    _mm_stream_ps(p, v);
#else
    v.store_aligned(p);
#endif
}

// Orders the stream stores before later stores (and a lock release that publishes them to another thread).
inline void stream_fence() noexcept {
#if defined(__SSE__)
    _mm_sfence();
#endif
}

}  // namespace mindsave::kernels
