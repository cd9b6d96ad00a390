// Conv2d as MindSpore's nn.Conv2d: NCHW, weight [out, in, k, k], pad_mode same / valid / pad.
// im2col + gemm per sample, or over the whole batch for small outputs; buffers kept across steps.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/schema.hpp"
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
    static constexpr void describe_parameters(SchemaBuilder& b) {
        b.add("weight", {Out, In, K, K});
        if constexpr (HasBias) b.add("bias", {Out});
    }

    Parameter<4>& weight() noexcept { return weight_; }
    Parameter<1>& bias() noexcept requires HasBias { return bias_; }

    // Output size along one axis, as MindSpore computes it.
    static constexpr std::size_t output_size(std::size_t n) {
        if constexpr (Mode == PadMode::same) return (n + Stride - 1) / Stride;
        else if constexpr (Mode == PadMode::valid) return n >= K ? (n - K) / Stride + 1 : 0;
        else return n + 2 * Padding >= K ? (n + 2 * Padding - K) / Stride + 1 : 0;
    }

    // Below this many output positions per sample (ResNet's last stages on small images), a per-sample
    // product [Out, R] x [R, P] is too narrow to vectorize; the batch then runs as one product along the
    // channel axes instead (forward_batched).
    static constexpr std::size_t batched_below = 64;

    void forward(const Tensor& x, Tensor& y) {
        const std::size_t N = check_input(x);
        const auto& g = geometry_;
        ensure_shape(y, {N, Out, g.out_height, g.out_width});
        ensure_shape(col_, {g.col_rows(), g.col_cols()});
        const std::size_t P = g.col_cols(), in_size = In * g.height * g.width;
        if (P < batched_below) {
            forward_batched(x, y, N);
            return;
        }
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
        const std::size_t N = x.shape()[0], P = geometry_.col_cols();
        if (dx) {
            ensure_shape(*dx, x.shape());
            dx->fill(0.0f);
        }
        if (P < batched_below) backward_batched(x, dy, dx, N);
        else backward_per_sample(x, dy, dx, N);
        if (N == 0) weight_.zero_grad();
        if constexpr (HasBias) {
            bias_.zero_grad();
            for (std::size_t n = 0; n < N; ++n)
                for (std::size_t o = 0; o < Out; ++o) bias_.grad(o) += kernels::sum(dy.data() + (n * Out + o) * P, P);
        }
    }

private:
    void backward_per_sample(const Tensor& x, const Tensor& dy, Tensor* dx, std::size_t N) {
        const auto& g = geometry_;
        const std::size_t P = g.col_cols(), R = g.col_rows(), in_size = In * g.height * g.width;
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
    }

    // The batch as one product: colT[N*P, R] (each sample's columns, transposed) against the weight
    // rows gives Y^T[N*P, Out], dot products along R; each sample's block is transposed into y.
    // colT stays for backward.
    void forward_batched(const Tensor& x, Tensor& y, std::size_t N) {
        const auto& g = geometry_;
        const std::size_t P = g.col_cols(), R = g.col_rows(), in_size = In * g.height * g.width;
        ensure_shape(colT_, {N * P, R});
        ensure_shape(rowsT_, {N * P, Out});
        for (std::size_t n = 0; n < N; ++n) {
            kernels::im2col(x.data() + n * in_size, g, col_.data());
            kernels::transpose(col_.data(), R, P, colT_.data() + n * P * R);
        }
        kernels::gemm_nt(N * P, Out, R, colT_.data(), R, weight_.value.data(), R, rowsT_.data(), Out, false);
        for (std::size_t n = 0; n < N; ++n) {
            float* yn = y.data() + n * Out * P;
            kernels::transpose(rowsT_.data() + n * P * Out, P, Out, yn);
            if constexpr (HasBias)
                for (std::size_t o = 0; o < Out; ++o)
                    for (std::size_t p = 0; p < P; ++p) yn[o * P + p] += bias_.value(o);
        }
    }

    // dW[Out, R] = dY[Out, N*P] * colT[N*P, R] and dcol^T[N*P, R] = dY^T[N*P, Out] * W[Out, R], both
    // vectorized along R; dcol^T overwrites colT once dW is done.
    void backward_batched(const Tensor& x, const Tensor& dy, Tensor* dx, std::size_t N) {
        const auto& g = geometry_;
        const std::size_t P = g.col_cols(), R = g.col_rows(), in_size = In * g.height * g.width;
        if (colT_.dimension() != 2 || colT_.shape()[0] != N * P || x.shape()[0] != N)
            throw ShapeError("Conv2d::backward: call forward on the same input first");
        for (std::size_t n = 0; n < N; ++n)
            kernels::transpose(dy.data() + n * Out * P, Out, P, rowsT_.data() + n * P * Out);
        kernels::gemm(Out, R, N * P, kernels::transposed(rowsT_.data(), Out), colT_.data(), R, weight_.grad.data(), R,
                      false);
        if (!dx) return;
        kernels::gemm(N * P, R, Out, kernels::row_major(rowsT_.data(), Out), weight_.value.data(), R, colT_.data(), R,
                      false);
        for (std::size_t n = 0; n < N; ++n) {
            kernels::transpose(colT_.data() + n * P * R, P, R, col_.data());
            kernels::col2im_add(col_.data(), g, dx->data() + n * in_size);
        }
    }

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
    Tensor colT_, rowsT_;  // the batched path's transposed columns and outputs (or output gradients)
};

}  // namespace mindsave
