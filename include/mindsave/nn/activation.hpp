// Parameter-free element-wise layers: ReLU.
// ReLU's backward reads its own output (y > 0), so it needs no cache of its own.
#pragma once

#include "mindsave/core/concepts.hpp"
#include "mindsave/nn/kernels/elementwise.hpp"

namespace mindsave {

struct ReLU {
    void forward(const Tensor& x, Tensor& y) {
        ensure_shape(y, x.shape());
        kernels::relu(x.data(), y.data(), x.size());
    }
    void backward(const Tensor&, const Tensor& y, const Tensor& dy, Tensor* dx) {
        if (!dx) return;
        ensure_shape(*dx, y.shape());
        kernels::relu_backward(y.data(), dy.data(), dx->data(), y.size());
    }
};

}  // namespace mindsave
