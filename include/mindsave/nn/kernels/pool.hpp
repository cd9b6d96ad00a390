// Max pooling over K x K windows with stride S (valid padding), keeping the argmax for backward.
// Windows are tiny (2x2 in LeNet5), so the scalar loop is memory-bound and stays scalar.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

namespace mindsave::kernels {

// planes: N*C independent H x W planes; y and argmax are planes x OH x OW.
inline void max_pool(const float* x, std::size_t planes, std::size_t H, std::size_t W, std::size_t K,
                     std::size_t S, std::size_t OH, std::size_t OW, float* y, std::uint32_t* argmax) noexcept {
    for (std::size_t p = 0; p < planes; ++p) {
        const float* xp = x + p * H * W;
        for (std::size_t oh = 0; oh < OH; ++oh) {
            for (std::size_t ow = 0; ow < OW; ++ow) {
                float best = -std::numeric_limits<float>::infinity();
                std::uint32_t where = static_cast<std::uint32_t>((oh * S) * W + ow * S);
                for (std::size_t i = 0; i < K; ++i) {
                    const float* r = xp + (oh * S + i) * W + ow * S;
                    for (std::size_t j = 0; j < K; ++j) {
                        if (r[j] > best) {  // first maximum wins, as MindSpore's MaxPoolGrad does
                            best = r[j];
                            where = static_cast<std::uint32_t>((oh * S + i) * W + ow * S + j);
                        }
                    }
                }
                const std::size_t o = (p * OH + oh) * OW + ow;
                y[o] = best;
                argmax[o] = where;
            }
        }
    }
}

// dx = 0, then each output gradient goes to its argmax position.
inline void max_pool_backward(const float* dy, const std::uint32_t* argmax, std::size_t planes, std::size_t HW,
                              std::size_t OHW, float* dx) noexcept {
    for (std::size_t p = 0; p < planes; ++p) {
        float* dxp = dx + p * HW;
        for (std::size_t i = 0; i < HW; ++i) dxp[i] = 0.0f;
        for (std::size_t o = 0; o < OHW; ++o) dxp[argmax[p * OHW + o]] += dy[p * OHW + o];
    }
}

}  // namespace mindsave::kernels
