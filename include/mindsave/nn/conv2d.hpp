// Conv2d as MindSpore's nn.Conv2d: NCHW, weight [out, in, k, k], pad_mode same / valid / pad.
// Forward and backward are im2col + gemm per sample, into buffers kept across steps.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/nn/init.hpp"
#include "mindsave/nn/kernels/conv.hpp"
#include "mindsave/nn/kernels/elementwise.hpp"
#include "mindsave/nn/kernels/gemm.hpp"
#include "mindsave/nn/padding.hpp"

namespace mindsave {

template <std::size_t In, std::size_t Out, std::size_t K, PadMode Mode = PadMode::same, std::size_t Stride = 1,
          std::size_t Padding = 0, bool HasBias = false, init::Initializer WeightInit = init::HeUniform<>,
          init::Initializer BiasInit = init::FanInUniform>
class Conv2d {
    static_assert(In > 0 && Out > 0 && K > 0 && Stride > 0, "Conv2d: channels, kernel size and stride must be > 0");
    static_assert(Mode == PadMode::pad || Padding == 0,
                  "Conv2d: a padding amount needs PadMode::pad (MindSpore raises the same for same/valid)");

public:
    static constexpr std::size_t in_channels = In, out_channels = Out, kernel_size = K, stride = Stride;
    static constexpr PadMode pad_mode = Mode;
    static constexpr bool has_bias = HasBias;

    Conv2d() : weight_({Out, In, K, K}) {
        if constexpr (HasBias) bias_ = Parameter<1>({Out});
    }
    explicit Conv2d(Generator& g) : Conv2d() { initialize(g); }

    void initialize(Generator& g) {
        WeightInit{}.fill({weight_.value.data(), weight_.size()}, In * K * K, Out * K * K, g);
        if constexpr (HasBias) BiasInit{}.fill({bias_.value.data(), bias_.size()}, In * K * K, Out * K * K, g);
    }

    template <class F>
    void visit_parameters(F&& f) {
        f(std::string_view("weight"), weight_);
        if constexpr (HasBias) f(std::string_view("bias"), bias_);
    }

    Parameter<4>& weight() noexcept { return weight_; }
    Parameter<1>& bias() noexcept requires HasBias { return bias_; }

    // Output size along one axis, as MindSpore computes it.
    static constexpr std::size_t output_size(std::size_t n) {
        if constexpr (Mode == PadMode::same) return (n + Stride - 1) / Stride;
        else if constexpr (Mode == PadMode::valid) return n >= K ? (n - K) / Stride + 1 : 0;
        else return n + 2 * Padding >= K ? (n + 2 * Padding - K) / Stride + 1 : 0;
    }

    void forward(const Tensor& x, Tensor& y) {
        const std::size_t N = check_input(x);
        const auto& g = geometry_;
        ensure_shape(y, {N, Out, g.out_height, g.out_width});
        ensure_shape(col_, {g.col_rows(), g.col_cols()});
        const std::size_t P = g.col_cols(), in_size = In * g.height * g.width;
        for (std::size_t n = 0; n < N; ++n) {
            float* yn = y.data() + n * Out * P;
            kernels::im2col(x.data() + n * in_size, g, col_.data());
            if constexpr (HasBias)
                for (std::size_t o = 0; o < Out; ++o) std::fill(yn + o * P, yn + (o + 1) * P, bias_.value(o));
            kernels::gemm(Out, P, g.col_rows(), kernels::row_major(weight_.value.data(), g.col_rows()), col_.data(), P,
                          yn, P, HasBias);
        }
    }

    void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
        const auto& g = geometry_;
        const std::size_t N = x.shape()[0], P = g.col_cols(), R = g.col_rows(), in_size = In * g.height * g.width;
        if (dx) {
            ensure_shape(*dx, x.shape());
            dx->fill(0.0f);
        }
        float* dw = weight_.grad.data();
        for (std::size_t n = 0; n < N; ++n) {
            const float* dyn = dy.data() + n * Out * P;
            kernels::im2col(x.data() + n * in_size, g, col_.data());
            // dW[Out, R] (+)= dY_n[Out, P] * col^T: dot products along the long P axis
            kernels::gemm_nt(Out, R, P, dyn, P, col_.data(), P, dw, R, n > 0);
            if (dx) {
                // dcol[R, P] = W^T[R, Out] * dY_n[Out, P], then scattered back onto the input
                kernels::gemm(R, P, Out, kernels::transposed(weight_.value.data(), R), dyn, P, col_.data(), P, false);
                kernels::col2im_add(col_.data(), g, dx->data() + n * in_size);
            }
        }
        if (N == 0) weight_.zero_grad();
        if constexpr (HasBias) {
            bias_.zero_grad();
            for (std::size_t n = 0; n < N; ++n)
                for (std::size_t o = 0; o < Out; ++o) bias_.grad(o) += kernels::sum(dy.data() + (n * Out + o) * P, P);
        }
    }

private:
    std::size_t check_input(const Tensor& x) {
        if (x.dimension() != 4 || x.shape()[1] != In)
            throw ShapeError("Conv2d<" + std::to_string(In) + ", " + std::to_string(Out) + ", " + std::to_string(K) +
                             ">: expected input [N, " + std::to_string(In) + ", H, W], got " +
                             shape_string(std::vector<std::size_t>(x.shape().begin(), x.shape().end())));
        const std::size_t H = x.shape()[2], W = x.shape()[3];
        const std::size_t OH = output_size(H), OW = output_size(W);
        if (OH == 0 || OW == 0)
            throw ShapeError("Conv2d: input " + std::to_string(H) + "x" + std::to_string(W) + " is smaller than the " +
                             std::to_string(K) + "x" + std::to_string(K) + " kernel");
        std::size_t pad_top = Padding, pad_left = Padding;
        if constexpr (Mode == PadMode::same) {  // the odd pixel of padding goes to the bottom / right
            pad_top = ((OH - 1) * Stride + K > H ? (OH - 1) * Stride + K - H : 0) / 2;
            pad_left = ((OW - 1) * Stride + K > W ? (OW - 1) * Stride + K - W : 0) / 2;
        }
        geometry_ = {In, H, W, K, Stride, pad_top, pad_left, OH, OW};
        return x.shape()[0];
    }

    Parameter<4> weight_;
    Parameter<1> bias_;
    kernels::ConvGeometry geometry_{};
    Tensor col_;
};

}  // namespace mindsave
