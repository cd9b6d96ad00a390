// Shape-changing parameter-free layers: MaxPool2d and AvgPool2d (pad_mode valid / same / pad, as
// MindSpore's), GlobalAvgPooling (mindvision's neck: mean over H and W) and Flatten.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/padding.hpp"
#include "mindsave/core/parallel.hpp"
#include "mindsave/nn/kernels/pool.hpp"

namespace mindsave {

namespace detail {

// Window geometry shared by the K x K pooling layers; `what` names the layer in errors.
template <std::size_t K, std::size_t S, PadMode Mode, std::size_t Padding>
struct PoolShape {
    static_assert(K > 0 && S > 0, "pooling: kernel_size and stride must be > 0");
    static_assert(Mode == PadMode::pad || Padding == 0,
                  "pooling: a padding amount needs PadMode::pad (MindSpore raises the same for same/valid)");
    static_assert(2 * Padding <= K, "pooling: padding must be at most half the kernel size");

    static constexpr std::size_t output_size(std::size_t n) noexcept {
        return padded_output_size(Mode, n, K, S, Padding);
    }

    static kernels::PoolGeometry geometry(const Tensor& x, const char* what) {
        const auto shape_text = [&] { return shape_string(std::vector<std::size_t>(x.shape().begin(), x.shape().end())); };
        if (x.dimension() != 4)
            throw ShapeError(std::string(what) + ": expected input [N, C, H, W], got " + shape_text());
        const std::size_t H = x.shape()[2], W = x.shape()[3], OH = output_size(H), OW = output_size(W);
        if (OH == 0 || OW == 0 || H == 0 || W == 0)
            throw ShapeError(std::string(what) + ": input " + shape_text() + " is smaller than the " +
                             std::to_string(K) + "x" + std::to_string(K) + " window");
        return {x.shape()[0] * x.shape()[1], H, W, K, S, padding_before(Mode, H, OH, K, S, Padding),
                padding_before(Mode, W, OW, K, S, Padding), OH, OW};
    }
};

}  // namespace detail

// MindSpore's nn.MaxPool2d(kernel_size=K, stride=S, pad_mode=...): 'valid' (the default), 'same'
// (output ceil(n / S), the odd padding pixel after) or 'pad' with Padding on every side. Padding never
// wins a window. Remembers the argmax of each window for backward.
template <std::size_t K, std::size_t S = K, PadMode Mode = PadMode::valid, std::size_t Padding = 0>
class MaxPool2d {
    using Window = detail::PoolShape<K, S, Mode, Padding>;

public:
    static constexpr std::string_view cell_name = "MaxPool2d";
    static constexpr std::size_t kernel_size = K, stride = S, padding = Padding;
    static constexpr PadMode pad_mode = Mode;
    static constexpr std::size_t output_size(std::size_t n) noexcept { return Window::output_size(n); }

    void forward(const Tensor& x, Tensor& y) {
        prepare_samples(x, y);
        parallel_for(geometry_.planes, [&](std::size_t b, std::size_t e, std::size_t) { pool_planes(x, y, b, e); },
                     grain(geometry_.height * geometry_.width));
    }

    bool prepare_samples(const Tensor& x, Tensor& y) {
        geometry_ = Window::geometry(x, "MaxPool2d");
        ensure_shape(y, {x.shape()[0], x.shape()[1], geometry_.out_height, geometry_.out_width});
        argmax_.resize(y.size());  // no reallocation once the batch shape is steady
        return true;
    }
    void forward_samples(const Tensor& x, Tensor& y, std::size_t b, std::size_t e, std::size_t) {
        pool_planes(x, y, b * x.shape()[1], e * x.shape()[1]);
    }

    void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
        if (!dx) return;
        ensure_shape(*dx, x.shape());
        const std::size_t planes = x.shape()[0] * x.shape()[1];
        const std::size_t in_plane = x.shape()[2] * x.shape()[3], out_plane = y.shape()[2] * y.shape()[3];
        parallel_for(planes, [&](std::size_t b, std::size_t e, std::size_t) {
            kernels::max_pool_backward(dy.data() + b * out_plane, argmax_.data() + b * out_plane, e - b, in_plane,
                                       out_plane, dx->data() + b * in_plane);
        }, grain(in_plane));
    }

    bool prepare_backward_samples(const Tensor& x, const Tensor&, const Tensor&, Tensor* dx) {
        if (dx) ensure_shape(*dx, x.shape());
        return x.dimension() == 4;
    }
    void backward_samples(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, std::size_t b,
                          std::size_t e, std::size_t) {
        if (!dx) return;
        const std::size_t C = x.shape()[1], in_plane = x.shape()[2] * x.shape()[3];
        const std::size_t out_plane = y.shape()[2] * y.shape()[3];
        kernels::max_pool_backward(dy.data() + b * C * out_plane, argmax_.data() + b * C * out_plane, (e - b) * C,
                                   in_plane, out_plane, dx->data() + b * C * in_plane);
    }
    void finish_backward_samples(const Tensor&, const Tensor&) {}

private:
    void pool_planes(const Tensor& x, Tensor& y, std::size_t b, std::size_t e) {
        const std::size_t in_plane = geometry_.height * geometry_.width;
        const std::size_t out_plane = geometry_.out_height * geometry_.out_width;
        auto part = geometry_;
        part.planes = e - b;
        kernels::max_pool(x.data() + b * in_plane, part, y.data() + b * out_plane, argmax_.data() + b * out_plane);
    }

    // planes per thread at least: some 16k input values, or the wake-up costs more than it saves
    static std::size_t grain(std::size_t in_plane) noexcept { return 16384 / (in_plane ? in_plane : 1) + 1; }

    kernels::PoolGeometry geometry_{};
    std::vector<std::uint32_t> argmax_;
};

// MindSpore's nn.AvgPool2d: the window mean. 'same' divides by the window's part inside the input
// (MindSpore's AvgPool excludes padding); 'pad' divides by K*K unless CountIncludePad is false.
template <std::size_t K, std::size_t S = K, PadMode Mode = PadMode::valid, std::size_t Padding = 0,
          bool CountIncludePad = true>
class AvgPool2d {
    using Window = detail::PoolShape<K, S, Mode, Padding>;
    static constexpr bool include_pad = Mode == PadMode::pad && CountIncludePad;

public:
    static constexpr std::string_view cell_name = "AvgPool2d";
    static constexpr std::size_t kernel_size = K, stride = S, padding = Padding;
    static constexpr PadMode pad_mode = Mode;
    static constexpr bool count_include_pad = CountIncludePad;
    static constexpr std::size_t output_size(std::size_t n) noexcept { return Window::output_size(n); }

    void forward(const Tensor& x, Tensor& y) {
        const auto g = Window::geometry(x, "AvgPool2d");
        ensure_shape(y, {x.shape()[0], x.shape()[1], g.out_height, g.out_width});
        kernels::avg_pool(x.data(), g, include_pad, y.data());
    }

    void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
        if (!dx) return;
        ensure_shape(*dx, x.shape());
        kernels::avg_pool_backward(dy.data(), Window::geometry(x, "AvgPool2d"), include_pad, dx->data());
    }
};

// mindvision's GlobalAvgPooling neck (ReduceMean over axes 2 and 3): [N, C, H, W] -> [N, C], so a
// Dense follows directly; KeepDims gives [N, C, 1, 1] as keep_dims=True does.
template <bool KeepDims = false>
struct GlobalAvgPooling {
    static constexpr std::string_view cell_name = "GlobalAvgPooling";
    static constexpr bool keep_dims = KeepDims;

    void forward(const Tensor& x, Tensor& y) {
        if (x.dimension() != 4 || x.shape()[2] * x.shape()[3] == 0)
            throw ShapeError("GlobalAvgPooling: expected input [N, C, H, W] with H, W > 0, got " +
                             shape_string(std::vector<std::size_t>(x.shape().begin(), x.shape().end())));
        const std::size_t N = x.shape()[0], C = x.shape()[1];
        if constexpr (KeepDims) ensure_shape(y, {N, C, std::size_t{1}, std::size_t{1}});
        else ensure_shape(y, {N, C});
        kernels::global_avg_pool(x.data(), N * C, x.shape()[2] * x.shape()[3], y.data());
    }

    void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
        if (!dx) return;
        ensure_shape(*dx, x.shape());
        kernels::global_avg_pool_backward(dy.data(), x.shape()[0] * x.shape()[1], x.shape()[2] * x.shape()[3],
                                          dx->data());
    }
};

// [N, C, H, W] -> [N, C*H*W]
struct Flatten {
    static constexpr std::string_view cell_name = "Flatten";
    void forward(const Tensor& x, Tensor& y) {
        if (x.dimension() < 1) throw ShapeError("Flatten: expected an input with a batch axis");
        ensure_shape(y, {x.shape()[0], x.shape()[0] ? x.size() / x.shape()[0] : 0});
        std::copy(x.data(), x.data() + x.size(), y.data());
    }
    bool prepare_samples(const Tensor& x, Tensor& y) {
        if (x.dimension() < 1) throw ShapeError("Flatten: expected an input with a batch axis");
        ensure_shape(y, {x.shape()[0], x.shape()[0] ? x.size() / x.shape()[0] : 0});
        return true;
    }
    void forward_samples(const Tensor& x, Tensor& y, std::size_t b, std::size_t e, std::size_t) {
        const std::size_t per = y.shape()[1];
        std::copy(x.data() + b * per, x.data() + e * per, y.data() + b * per);
    }
    bool prepare_backward_samples(const Tensor& x, const Tensor&, const Tensor&, Tensor* dx) {
        if (dx) ensure_shape(*dx, x.shape());
        return x.dimension() > 0;
    }
    void backward_samples(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx, std::size_t b, std::size_t e,
                          std::size_t) {
        if (!dx) return;
        const std::size_t per = x.shape()[0] ? x.size() / x.shape()[0] : 0;
        std::copy(dy.data() + b * per, dy.data() + e * per, dx->data() + b * per);
    }
    void finish_backward_samples(const Tensor&, const Tensor&) {}
    void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
        if (!dx) return;
        ensure_shape(*dx, x.shape());
        std::copy(dy.data(), dy.data() + dy.size(), dx->data());
    }
};

}  // namespace mindsave
