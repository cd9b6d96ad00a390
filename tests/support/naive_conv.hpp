// Test support: a direct convolution in double, as a visitor of every (input, weight, output) index triple,
// the reference that Conv2d's forward and gradients are checked against.
#pragma once

#include <cstddef>

namespace mindsave::testing {

// Direct convolution and its two gradients, in double: y[n,o,oh,ow] = sum x[n,c,ih,iw] w[o,c,i,j] (+ b[o]).
struct NaiveConv {
    std::size_t N, C, H, W, O, K, S, pt, pl, OH, OW;
    template <class F>
    void each(F&& f) const {
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t o = 0; o < O; ++o)
                for (std::size_t oh = 0; oh < OH; ++oh)
                    for (std::size_t ow = 0; ow < OW; ++ow)
                        for (std::size_t c = 0; c < C; ++c)
                            for (std::size_t i = 0; i < K; ++i)
                                for (std::size_t j = 0; j < K; ++j) {
                                    const auto ih = std::ptrdiff_t(oh * S + i) - std::ptrdiff_t(pt);
                                    const auto iw = std::ptrdiff_t(ow * S + j) - std::ptrdiff_t(pl);
                                    if (ih < 0 || iw < 0 || ih >= std::ptrdiff_t(H) || iw >= std::ptrdiff_t(W)) continue;
                                    f(((n * C + c) * H + std::size_t(ih)) * W + std::size_t(iw), ((o * C + c) * K + i) * K + j,
                                      ((n * O + o) * OH + oh) * OW + ow);
                                }
    }
};

}  // namespace mindsave::testing
