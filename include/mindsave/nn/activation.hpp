// Parameter-free element-wise layers: ReLU.
// ReLU's backward reads its own output (y > 0), so it needs no cache of its own.
#pragma once

#include <string_view>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/parallel.hpp"
#include "mindsave/nn/kernels/elementwise.hpp"

namespace mindsave {

struct ReLU {
    static constexpr std::string_view cell_name = "ReLU";
    static constexpr std::size_t grain = 16384;  // elements below which one thread does it all
    static constexpr bool folds_as_relu = true;  // inference folds it into the product before it (Sequential::infer)

    void forward(const Tensor& x, Tensor& y) {
        ensure_shape(y, x.shape());
        parallel_for(x.size(), [&](std::size_t b, std::size_t e, std::size_t) {
            kernels::relu(x.data() + b, y.data() + b, e - b);
        }, grain);
    }
    bool prepare_samples(const Tensor& x, Tensor& y) {
        ensure_shape(y, x.shape());
        return x.dimension() > 0;
    }
    void forward_samples(const Tensor& x, Tensor& y, std::size_t b, std::size_t e, std::size_t) {
        const std::size_t per = x.shape()[0] ? x.size() / x.shape()[0] : 0;
        kernels::relu(x.data() + b * per, y.data() + b * per, (e - b) * per);
    }

    bool prepare_backward_samples(const Tensor&, const Tensor& y, const Tensor&, Tensor* dx) {
        if (dx) ensure_shape(*dx, y.shape());
        return y.dimension() > 0;
    }
    void backward_samples(const Tensor&, const Tensor& y, const Tensor& dy, Tensor* dx, std::size_t b, std::size_t e,
                          std::size_t) {
        if (!dx) return;
        const std::size_t per = y.shape()[0] ? y.size() / y.shape()[0] : 0;
        kernels::relu_backward(y.data() + b * per, dy.data() + b * per, dx->data() + b * per, (e - b) * per);
    }
    void finish_backward_samples(const Tensor&, const Tensor&) {}

    void backward(const Tensor&, const Tensor& y, const Tensor& dy, Tensor* dx) {
        if (!dx) return;
        ensure_shape(*dx, y.shape());
        parallel_for(y.size(), [&](std::size_t b, std::size_t e, std::size_t) {
            kernels::relu_backward(y.data() + b, dy.data() + b, dx->data() + b, e - b);
        }, grain);
    }
};

}  // namespace mindsave
