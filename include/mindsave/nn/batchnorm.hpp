// BatchNorm2d as MindSpore's nn.BatchNorm2d: per-channel normalization of NCHW input with moving
// statistics (saved in checkpoints, never trained) and gamma / beta (trained), in MindSpore's order.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/parallel.hpp"
#include "mindsave/core/real.hpp"
#include "mindsave/core/schema.hpp"
#include "mindsave/nn/init.hpp"
#include "mindsave/nn/kernels/elementwise.hpp"
#include "mindsave/nn/kernels/norm.hpp"

namespace mindsave {

// Training (set_train(true)) normalizes with the batch's mean and biased variance over N, H, W and
// updates moving = Momentum * moving + (1 - Momentum) * batch statistic, the variance unbiased
// (x M / (M - 1), M = N*H*W; 0 when M = 1) as MindSpore's Ascend and GPU kernels and PyTorch do
// (MindSpore's CPU kernel feeds the biased one). Inference normalizes with the moving statistics.
// A fresh layer is in inference mode, as a MindSpore Cell is; Model::train switches it.
//
// moving_mean and moving_variance are plain tensors, not Parameters: visiting hands them to
// checkpoints like any parameter, while Momentum (which takes Parameters only) never gives them
// moments, as MindSpore keeps requires_grad=False parameters out of trainable_params().
template <std::size_t C, Real Eps = 1e-5, Real Momentum = 0.9, init::Initializer GammaInit = init::One,
          init::Initializer BetaInit = init::Zero>
class BatchNorm2d {
    static_assert(C > 0, "BatchNorm2d: num_features must be > 0");
    static_assert(Eps > 0.0, "BatchNorm2d: eps must be > 0");
    static_assert(Momentum >= 0.0 && Momentum <= 1.0, "BatchNorm2d: momentum must lie in [0, 1]");

public:
    static constexpr std::string_view cell_name = "BatchNorm2d";
    static constexpr std::size_t num_features = C;
    static constexpr double eps = Eps, momentum = Momentum;

    BatchNorm2d()
        : moving_mean_(xt::xtensor<float, 1>::from_shape(std::array<std::size_t, 1>{C})),
          moving_variance_(xt::xtensor<float, 1>::from_shape(std::array<std::size_t, 1>{C})),
          gamma_({C}), beta_({C}), batch_mean_(C), batch_invstd_(C) {
        reset_statistics();
        gamma_.value.fill(1.0f);
    }
    explicit BatchNorm2d(Generator& g) : BatchNorm2d() { initialize(g); }

    // gamma and beta from their initializers (MindSpore: ones, zeros); moving statistics to 0 and 1.
    void initialize(Generator& g) {
        GammaInit{}.fill({gamma_.value.data(), C}, C, C, g);
        BetaInit{}.fill({beta_.value.data(), C}, C, C, g);
        reset_statistics();
    }

    void set_train(bool training = true) noexcept { training_ = training; }
    bool training() const noexcept { return training_; }

    // MindSpore's order: moving_mean, moving_variance, gamma, beta.
    template <class F>
    void visit_parameters(F&& f) {
        f(std::string_view("moving_mean"), moving_mean_);
        f(std::string_view("moving_variance"), moving_variance_);
        f(std::string_view("gamma"), gamma_);
        f(std::string_view("beta"), beta_);
    }
    static constexpr void describe_parameters(SchemaBuilder& b) {
        b.add("moving_mean", {C}, false);
        b.add("moving_variance", {C}, false);
        b.add("gamma", {C});
        b.add("beta", {C});
    }

    xt::xtensor<float, 1>& moving_mean() noexcept { return moving_mean_; }
    const xt::xtensor<float, 1>& moving_mean() const noexcept { return moving_mean_; }
    xt::xtensor<float, 1>& moving_variance() noexcept { return moving_variance_; }
    const xt::xtensor<float, 1>& moving_variance() const noexcept { return moving_variance_; }
    Parameter<1>& gamma() noexcept { return gamma_; }
    const Parameter<1>& gamma() const noexcept { return gamma_; }
    Parameter<1>& beta() noexcept { return beta_; }
    const Parameter<1>& beta() const noexcept { return beta_; }

    // In eval mode the layer is y = scale[c] * x + shift[c]: those (computed as forward computes them, so a
    // convolution that applies them in its stores gives forward's bits), or false in training mode.
    bool inference_affine(const float*& scale, const float*& shift) {
        if (training_) return false;
        affine_.resize(2 * C);
        for (std::size_t c = 0; c < C; ++c) {
            const float mean = moving_mean_(c), invstd = moving_invstd(c);
            const float a = gamma_.value(c) * invstd;
            affine_[c] = a;
            affine_[C + c] = beta_.value(c) - a * mean;
        }
        scale = affine_.data();
        shift = affine_.data() + C;
        return true;
    }

    // Channels are independent: split over the threads, each computed as on one, so results never depend
    // on the thread count.
    void forward(const Tensor& x, Tensor& y) {
        check_input(x);
        const std::size_t N = x.shape()[0], HW = x.shape()[2] * x.shape()[3];
        const double M = static_cast<double>(N * HW);
        ensure_shape(y, x.shape());
        forward_training_ = training_;
        parallel_for(C, [&](std::size_t c0, std::size_t c1, std::size_t) {
            for (std::size_t c = c0; c < c1; ++c) {
                float mean, invstd;
                if (training_) {
                    double s = 0.0;
                    for (std::size_t n = 0; n < N; ++n) s += kernels::sum(plane(x, n, c, HW), HW);
                    mean = static_cast<float>(s / M);
                    double q = 0.0;
                    for (std::size_t n = 0; n < N; ++n) q += kernels::sum_squared_deviation(plane(x, n, c, HW), HW, mean);
                    const double variance = q / M;
                    invstd = static_cast<float>(1.0 / std::sqrt(variance + Eps));
                    batch_mean_[c] = mean;
                    batch_invstd_[c] = invstd;
                    const double unbiased = M > 1.0 ? variance * M / (M - 1.0) : 0.0;
                    moving_mean_(c) = static_cast<float>(Momentum * moving_mean_(c) + (1.0 - Momentum) * mean);
                    moving_variance_(c) = static_cast<float>(Momentum * moving_variance_(c) + (1.0 - Momentum) * unbiased);
                } else {
                    mean = moving_mean_(c);
                    invstd = moving_invstd(c);
                }
                // gamma * (x - mean) * invstd + beta, folded into one multiply-add per element
                const float a = gamma_.value(c) * invstd, b = beta_.value(c) - a * mean;
                for (std::size_t n = 0; n < N; ++n)
                    kernels::scale_shift(plane(x, n, c, HW), y.data() + (n * C + c) * HW, HW, a, b);
            }
        }, grain(N * HW));
    }

    // Gradients of the function the last forward computed: with batch statistics after a training
    // forward (the full batch-norm backward, through mean and variance), with the fixed moving ones after
    // an inference forward.
    void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
        const std::size_t N = x.shape()[0], HW = x.shape()[2] * x.shape()[3];
        const double M = static_cast<double>(N * HW);
        if (dx) ensure_shape(*dx, x.shape());
        parallel_for(C, [&](std::size_t c0, std::size_t c1, std::size_t) {
            for (std::size_t c = c0; c < c1; ++c) {
                const float mean = forward_training_ ? batch_mean_[c] : moving_mean_(c);
                const float invstd = forward_training_ ? batch_invstd_[c] : moving_invstd(c);
                double sum_dy = 0.0, sum_dy_xc = 0.0;  // sum dy, sum dy * (x - mean)
                for (std::size_t n = 0; n < N; ++n) {
                    const float* dyp = dy.data() + (n * C + c) * HW;
                    sum_dy += kernels::sum(dyp, HW);
                    sum_dy_xc += kernels::dot_centered(dyp, plane(x, n, c, HW), HW, mean);
                }
                gamma_.grad(c) = static_cast<float>(sum_dy_xc * invstd);
                beta_.grad(c) = static_cast<float>(sum_dy);
                if (!dx) continue;
                const double g = gamma_.value(c), is = invstd;
                if (forward_training_) {
                    // dx = g*is/M * (M*dy - sum_dy - xhat * sum(dy*xhat)) = a*dy + b*x + c
                    const double a = g * is, b = -g * is * is * is * sum_dy_xc / M, k = -a * sum_dy / M - b * mean;
                    for (std::size_t n = 0; n < N; ++n)
                        kernels::affine2(dy.data() + (n * C + c) * HW, plane(x, n, c, HW), dx->data() + (n * C + c) * HW,
                                         HW, static_cast<float>(a), static_cast<float>(b), static_cast<float>(k));
                } else {
                    for (std::size_t n = 0; n < N; ++n)
                        kernels::scale_shift(dy.data() + (n * C + c) * HW, dx->data() + (n * C + c) * HW, HW,
                                             static_cast<float>(g * is), 0.0f);
                }
            }
        }, grain(N * HW));
    }

private:
    // Channels per part: enough values (about 16 K) that a hand-off pays.
    static std::size_t grain(std::size_t per_channel) noexcept {
        return std::max<std::size_t>(1, 16384 / std::max<std::size_t>(per_channel, 1));
    }
    static const float* plane(const Tensor& x, std::size_t n, std::size_t c, std::size_t HW) noexcept {
        return x.data() + (n * C + c) * HW;
    }
    float moving_invstd(std::size_t c) const noexcept {
        return static_cast<float>(1.0 / std::sqrt(static_cast<double>(moving_variance_(c)) + Eps));
    }
    void reset_statistics() {
        moving_mean_.fill(0.0f);
        moving_variance_.fill(1.0f);
    }
    void check_input(const Tensor& x) const {
        if (x.dimension() != 4 || x.shape()[1] != C)
            throw ShapeError("BatchNorm2d<" + std::to_string(C) + ">: expected input [N, " + std::to_string(C) +
                             ", H, W], got " + shape_string(std::vector<std::size_t>(x.shape().begin(), x.shape().end())));
        if (training_ && x.shape()[0] * x.shape()[2] * x.shape()[3] == 0)
            throw ShapeError("BatchNorm2d: training needs at least one value per channel");
    }

    xt::xtensor<float, 1> moving_mean_, moving_variance_;
    Parameter<1> gamma_, beta_;
    std::vector<float> batch_mean_, batch_invstd_;  // of the last training forward, for backward
    std::vector<float> affine_;                     // inference_affine's scale, then shift
    bool training_ = false;
    bool forward_training_ = false;
};

}  // namespace mindsave
