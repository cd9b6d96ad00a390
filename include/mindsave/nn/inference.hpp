// infer(layer, x, y): forward for a network in eval mode that no backward follows (Model::predict, eval),
// free to fuse: a convolution applies the BatchNorm, ReLU and residual add after it as it stores its output.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/parallel.hpp"
#include "mindsave/core/tensor.hpp"
#include "mindsave/nn/kernels/epilogue.hpp"

namespace mindsave {

// What follows a layer, per channel (axis 1) of its output y: y = relu?(scale[c] * y + shift[c] + add).
// scale and shift come together (a BatchNorm in eval mode) or not at all; add has y's shape.
struct PostOp {
    const float* scale = nullptr;
    const float* shift = nullptr;
    const Tensor* add = nullptr;
    bool relu = false;
    bool empty() const noexcept { return !scale && !add && !relu; }
};

// A layer that applies a PostOp itself (null: none), e.g. in its product's stores.
template <class L>
concept TakesPostOp = requires(L& l, const Tensor& x, Tensor& y, const PostOp* post) { l.infer(x, y, post); };

// A layer that is, in inference, a per-channel affine map (BatchNorm2d in eval mode): its scale and shift,
// or false when it is not one now (training mode).
template <class L>
concept ChannelAffine = requires(L& l, const float*& scale, const float*& shift) {
    { l.inference_affine(scale, shift) } -> std::same_as<bool>;
};

namespace detail {
inline std::string post_shape_text(const Tensor& t) {
    return shape_string(std::vector<std::size_t>(t.shape().begin(), t.shape().end()));
}
}  // namespace detail

// A residual added to y must have y's shape (a kernel reads it beside y's entries).
inline void check_post_shape(const Tensor& y, const PostOp& post) {
    if (post.add && post.add->shape() != y.shape())
        throw ShapeError("a residual of shape " + detail::post_shape_text(*post.add) + " cannot be added to an output of shape " +
                         detail::post_shape_text(y) + "; a block that changes the shape needs a down_sample shortcut");
    if (post.scale && (y.dimension() < 2))
        throw ShapeError("a per-channel scale needs an output [N, C, ...], got " + detail::post_shape_text(y));
}

// The epilogue of sample n's rows (its channels, `positions` entries each) in y, [N, C, positions].
inline kernels::ChannelEpilogue epilogue_of(const PostOp& post, std::size_t n, std::size_t channels,
                                            std::size_t positions) noexcept {
    return {post.scale, post.shift, post.add ? post.add->data() + n * channels * positions : nullptr, positions, post.relu};
}

// post applied to y in place, a pass of its own (layers that cannot fold it into their stores).
inline void apply_post(Tensor& y, const PostOp& post) {
    check_post_shape(y, post);
    if (post.empty() || y.size() == 0) return;
    const std::size_t N = y.shape()[0], C = y.dimension() > 1 ? y.shape()[1] : 1, P = y.size() / (N * C);
    parallel_for(N * C, [&](std::size_t b, std::size_t e, std::size_t) {
        for (std::size_t r = b; r < e; ++r) {
            const std::size_t n = r / C, c = r % C;
            float* row = y.data() + r * P;
            epilogue_of(post, n, C, P).row(c, 0, row, row, P);
        }
    }, std::max<std::size_t>(1, 16384 / std::max<std::size_t>(P, 1)));
}

// The layer's inference: its own infer where it has one, else forward then the PostOp in a pass.
template <class L>
void infer(L& layer, const Tensor& x, Tensor& y, const PostOp* post = nullptr) {
    if constexpr (TakesPostOp<L>) {
        layer.infer(x, y, post);
    } else {
        layer.forward(x, y);
        if (post) apply_post(y, *post);
    }
}

}  // namespace mindsave
