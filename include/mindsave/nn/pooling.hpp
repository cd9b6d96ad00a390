// Shape-changing parameter-free layers: MaxPool2d (valid padding, as MindSpore's default) and Flatten.
// MaxPool2d remembers the argmax of each window for backward.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/nn/kernels/pool.hpp"

namespace mindsave {

template <std::size_t K, std::size_t S = K>
class MaxPool2d {
    static_assert(K > 0 && S > 0, "MaxPool2d: kernel_size and stride must be > 0");

public:
    static constexpr std::size_t kernel_size = K, stride = S;

    void forward(const Tensor& x, Tensor& y) {
        if (x.dimension() != 4 || x.shape()[2] < K || x.shape()[3] < K)
            throw ShapeError("MaxPool2d<" + std::to_string(K) + ", " + std::to_string(S) +
                             ">: expected input [N, C, H, W] with H, W >= " + std::to_string(K) + ", got " +
                             shape_string(std::vector<std::size_t>(x.shape().begin(), x.shape().end())));
        const std::size_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
        const std::size_t OH = (H - K) / S + 1, OW = (W - K) / S + 1;
        ensure_shape(y, {N, C, OH, OW});
        argmax_.resize(y.size());  // no reallocation once the batch shape is steady
        kernels::max_pool(x.data(), N * C, H, W, K, S, OH, OW, y.data(), argmax_.data());
    }

    void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
        if (!dx) return;
        ensure_shape(*dx, x.shape());
        const std::size_t planes = x.shape()[0] * x.shape()[1];
        kernels::max_pool_backward(dy.data(), argmax_.data(), planes, x.shape()[2] * x.shape()[3],
                                   y.shape()[2] * y.shape()[3], dx->data());
    }

private:
    std::vector<std::uint32_t> argmax_;
};

// [N, C, H, W] -> [N, C*H*W]
struct Flatten {
    void forward(const Tensor& x, Tensor& y) {
        if (x.dimension() < 1) throw ShapeError("Flatten: expected an input with a batch axis");
        ensure_shape(y, {x.shape()[0], x.shape()[0] ? x.size() / x.shape()[0] : 0});
        std::copy(x.data(), x.data() + x.size(), y.data());
    }
    void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
        if (!dx) return;
        ensure_shape(*dx, x.shape());
        std::copy(dy.data(), dy.data() + dy.size(), dx->data());
    }
};

}  // namespace mindsave
