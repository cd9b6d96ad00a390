// Export rules of mindsave's layers: the ops each becomes, with output shapes inferred as the
// layer's own forward computes them. A rule is the model for user layers' own export_rule.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "mindsave/core/padding.hpp"
#include "mindsave/graph/trace.hpp"
#include "mindsave/nn/activation.hpp"
#include "mindsave/nn/batchnorm.hpp"
#include "mindsave/nn/conv2d.hpp"
#include "mindsave/nn/dense.hpp"
#include "mindsave/nn/pooling.hpp"
#include "mindsave/nn/residual.hpp"

namespace mindsave::graph {

namespace detail {
// Output size and padding of a window op along one axis, as MindSpore computes them: 'same' gives
// ceil(n / stride) with the odd padding pixel at the end, 'valid' none, 'pad' the given amount.
struct Window {
    std::int64_t out, before, after;
};
inline Window window(std::size_t n, std::size_t k, std::size_t stride, PadMode mode, std::size_t pad) {
    const std::size_t out = mindsave::detail::padded_output_size(mode, n, k, stride, pad);
    return {static_cast<std::int64_t>(out),
            static_cast<std::int64_t>(mindsave::detail::padding_before(mode, n, out, k, stride, pad)),
            static_cast<std::int64_t>(mindsave::detail::padding_after(mode, n, out, k, stride, pad))};
}

// The geometry of a k x k window op over an [N, C, H, W] value, or a ShapeError naming the layer.
struct Geometry {
    op::Pair kernel, stride;
    op::Pads pads;
    Shape out;  // [N, C, OH, OW] with C filled by the caller when it changes
};
inline Geometry geometry(const Tracer& t, std::size_t x, const Path& path, std::size_t k, std::size_t stride,
                         PadMode mode, std::size_t pad) {
    const Shape& s = t.expect_rank(x, 4, path);
    const Window h = window(s[2], k, stride, mode, pad), w = window(s[3], k, stride, mode, pad);
    if (h.out < 1 || w.out < 1)
        throw ShapeError("export: " + path.scope + " (kernel " + std::to_string(k) + ") does not fit its input " +
                         shape_string(s) + "; check the input shape given to export_model");
    const auto K = static_cast<std::int64_t>(k), S = static_cast<std::int64_t>(stride);
    return {{K, K}, {S, S}, {h.before, h.after, w.before, w.after},
            {s[0], s[1], static_cast<std::size_t>(h.out), static_cast<std::size_t>(w.out)}};
}
}  // namespace detail

template <std::size_t I, std::size_t O, std::size_t K, PadMode M, std::size_t S, std::size_t P, bool B, class W, class BI>
struct export_rule<Conv2d<I, O, K, M, S, P, B, W, BI>> {
    template <class L>
    static std::size_t trace(Tracer& t, L& layer, std::size_t x, const Path& path) {
        auto g = detail::geometry(t, x, path, K, S, M, P);
        if (t.shape(x)[1] != I)
            throw ShapeError("export: " + path.scope + " expects " + std::to_string(I) + " input channels, got " +
                             shape_string(t.shape(x)));
        g.out[1] = O;
        auto inputs = t.parameters(layer, path);  // weight (, bias)
        inputs.insert(inputs.begin(), x);
        return t.add(op::Conv{g.kernel, g.stride, g.pads, M, static_cast<std::int64_t>(O)},
                     std::move(inputs), std::move(g.out), path.scope);
    }
};

template <std::size_t I, std::size_t O, class W, bool B, class BI>
struct export_rule<Dense<I, O, W, B, BI>> {
    template <class L>
    static std::size_t trace(Tracer& t, L& layer, std::size_t x, const Path& path) {
        const Shape& s = t.expect_rank(x, 2, path);
        if (s[1] != I)
            throw ShapeError("export: " + path.scope + " expects " + std::to_string(I) + " input features, got " +
                             shape_string(s));
        auto inputs = t.parameters(layer, path);
        inputs.insert(inputs.begin(), x);
        return t.add(op::Dense{}, std::move(inputs), Shape{s[0], O}, path.scope);
    }
};

template <>
struct export_rule<ReLU> {
    static std::size_t trace(Tracer& t, ReLU&, std::size_t x, const Path& path) {
        return t.add(op::Relu{}, {x}, t.shape(x), path.scope);
    }
};

template <std::size_t K, std::size_t S, PadMode M, std::size_t P>
struct export_rule<MaxPool2d<K, S, M, P>> {
    template <class L>
    static std::size_t trace(Tracer& t, L&, std::size_t x, const Path& path) {
        auto g = detail::geometry(t, x, path, K, S, M, P);
        return t.add(op::MaxPool{g.kernel, g.stride, g.pads, M}, {x}, std::move(g.out), path.scope);
    }
};

template <std::size_t K, std::size_t S, PadMode M, std::size_t P, bool IncludePad>
struct export_rule<AvgPool2d<K, S, M, P, IncludePad>> {
    template <class L>
    static std::size_t trace(Tracer& t, L&, std::size_t x, const Path& path) {
        auto g = detail::geometry(t, x, path, K, S, M, P);
        const bool include_pad = M == PadMode::pad && IncludePad;
        return t.add(op::AvgPool{g.kernel, g.stride, g.pads, M, include_pad}, {x}, std::move(g.out),
                     path.scope);
    }
};

template <bool KeepDims>
struct export_rule<GlobalAvgPooling<KeepDims>> {
    template <class L>
    static std::size_t trace(Tracer& t, L&, std::size_t x, const Path& path) {
        const Shape& s = t.expect_rank(x, 4, path);
        Shape out = KeepDims ? Shape{s[0], s[1], 1, 1} : Shape{s[0], s[1]};
        return t.add(op::GlobalAvgPool{KeepDims}, {x}, std::move(out), path.scope);
    }
};

template <std::size_t C, Real Eps, Real Momentum, class G, class B>
struct export_rule<BatchNorm2d<C, Eps, Momentum, G, B>> {
    template <class L>
    static std::size_t trace(Tracer& t, L& layer, std::size_t x, const Path& path) {
        const Shape& s = t.expect_rank(x, 4, path);
        if (s[1] != C)
            throw ShapeError("export: " + path.scope + " normalises " + std::to_string(C) + " channels, got " +
                             shape_string(s));
        const auto p = t.parameters(layer, path);  // moving_mean, moving_variance, gamma, beta
        // inference: the moving statistics normalise (MindSpore exports BatchNorm with is_training false)
        return t.add(op::BatchNorm{static_cast<float>(Eps), static_cast<float>(Momentum)}, {x, p[2], p[3], p[0], p[1]},
                     s, path.scope);
    }
};

template <>
struct export_rule<Identity> {
    static std::size_t trace(Tracer&, Identity&, std::size_t x, const Path&) { return x; }
};

// relu(body(x) + shortcut(x)); the body's children sit directly under the block, as mindvision names them.
template <class Body, class Shortcut>
struct export_rule<Residual<Body, Shortcut>> {
    template <class L>
    static std::size_t trace(Tracer& t, L& block, std::size_t x, const Path& path) {
        const auto body = trace_layer(t, block.body(), x, path);
        const auto skip = trace_layer(t, block.shortcut(), x, path);
        if (t.shape(body) != t.shape(skip))
            throw ShapeError("export: " + path.scope + ": the body gives " + shape_string(t.shape(body)) +
                             " but the shortcut " + shape_string(t.shape(skip)));
        const auto sum = t.add(op::Add{}, {body, skip}, t.shape(body), path.scope);
        return t.add(op::Relu{}, {sum}, t.shape(body), path.scope);
    }
};

template <>
struct export_rule<Flatten> {
    static std::size_t trace(Tracer& t, Flatten&, std::size_t x, const Path& path) {
        const Shape& s = t.shape(x);
        if (s.empty()) throw ShapeError("export: " + path.scope + " needs an input with a batch axis");
        std::size_t rest = 1;
        for (std::size_t i = 1; i < s.size(); ++i) rest *= s[i];
        return t.add(op::Flatten{}, {x}, Shape{s[0], rest}, path.scope);
    }
};

}  // namespace mindsave::graph
