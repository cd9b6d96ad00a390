// nn/inference.hpp and the epilogues behind it: products that apply a BatchNorm's scale and shift, a residual
// and a ReLU in their stores, against a naive computation in double and against the unfused layers' bits.
#include <cmath>
#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/core/parallel.hpp"
#include "mindsave/core/rng.hpp"
#include "mindsave/nn/activation.hpp"
#include "mindsave/nn/batchnorm.hpp"
#include "mindsave/nn/conv2d.hpp"
#include "mindsave/nn/inference.hpp"
#include "mindsave/nn/kernels/epilogue.hpp"
#include "mindsave/nn/kernels/packed_gemm.hpp"
#include "mindsave/nn/kernels/parallel_gemm.hpp"
#include "mindsave/nn/residual.hpp"
#include "mindsave/nn/sequential.hpp"
#include "support/naive_conv.hpp"

using namespace mindsave;

namespace {

std::vector<float> random_values(std::size_t n, Generator& g, double lo = -1.0, double hi = 1.0) {
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(g.uniform(lo, hi));
    return v;
}

Tensor random_tensor(std::vector<std::size_t> shape, Generator& g) {
    Tensor t = Tensor::from_shape(shape);
    for (auto& v : t) v = static_cast<float>(g.uniform(-1.0, 1.0));
    return t;
}

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct ThreadCount {
    std::size_t saved = num_threads();
    explicit ThreadCount(std::size_t n) { set_num_threads(n); }
    ~ThreadCount() { set_num_threads(saved); }
};

// Moving statistics moved away from MindSpore's defaults (0 and 1) by training-mode forwards, and gamma and
// beta away from theirs, so a fold that ignored any of them would show.
template <std::size_t C>
void train_statistics(BatchNorm2d<C>& bn, const Tensor& sample_input, Generator& g) {
    bn.set_train(true);
    Tensor y;
    for (int i = 0; i < 3; ++i) bn.forward(sample_input, y);
    for (auto& v : bn.gamma().value) v = static_cast<float>(g.uniform(0.5, 1.5));
    for (auto& v : bn.beta().value) v = static_cast<float>(g.uniform(-0.5, 0.5));
    bn.set_train(false);
}

// relu?(BN(conv(x)) [+ add]) in double, from the layers' parameters: the reference for the fused paths.
template <class Conv, class Norm>
std::vector<double> naive_conv_bn(const Tensor& x, Conv& conv, Norm& bn, std::size_t pad, const Tensor* add, bool relu) {
    constexpr std::size_t In = Conv::in_channels, Out = Conv::out_channels, K = Conv::kernel_size, S = Conv::stride;
    const std::size_t N = x.shape()[0], H = x.shape()[2], W = x.shape()[3];
    const std::size_t OH = (H + 2 * pad - K) / S + 1, OW = (W + 2 * pad - K) / S + 1;
    std::vector<double> y(N * Out * OH * OW, 0.0);
    const auto& w = conv.weight().value;
    const testing::NaiveConv nc{N, In, H, W, Out, K, S, pad, pad, OH, OW};
    nc.each([&](std::size_t xi, std::size_t wi, std::size_t yi) { y[yi] += double(w.data()[wi]) * x.data()[xi]; });
    const std::size_t P = OH * OW;
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t o = 0; o < Out; ++o) {
            const double invstd = 1.0 / std::sqrt(double(bn.moving_variance()(o)) + 1e-5);
            for (std::size_t p = 0; p < P; ++p) {
                const std::size_t at = (n * Out + o) * P + p;
                double s = y[at];
                if constexpr (Conv::has_bias) s += conv.bias().value(o);
                double v = (s - bn.moving_mean()(o)) * invstd * bn.gamma().value(o) + bn.beta().value(o);
                if (add) v += add->data()[at];
                y[at] = relu && v < 0.0 ? 0.0 : v;
            }
        }
    return y;
}

double max_relative_error(const Tensor& got, const std::vector<double>& want) {
    double scale = 1e-3, worst = 0.0;
    for (const double v : want) scale = std::max(scale, std::abs(v));
    for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(got.data()[i] - want[i]) / scale);
    return worst;
}

}  // namespace

TEST_CASE("gemm and packed_gemm apply a ChannelEpilogue (scale, shift, residual, ReLU) to every entry as stored: a naive "
          "product in double agrees, over ragged sizes and both kernels' k and column blocks, with accumulation, on 1 "
          "and 2 threads", "[kernels][inference]") {
    Generator g(41);
    constexpr std::size_t MR = kernels::packed_mr, NR = kernels::packed_nr, KC = kernels::packed_kc;
    for (const std::size_t threads : {1, 2}) {
        const ThreadCount tc(threads);
        for (const std::size_t M : {std::size_t{1}, MR + 1, 2 * MR + 3, std::size_t{37}})
            for (const std::size_t N : {std::size_t{5}, NR + 1, 3 * NR + 7, kernels::gemm_nc + 37})
                for (const std::size_t K : {std::size_t{3}, KC + 1}) {
                    const std::size_t ldc = N + 2;
                    const auto A = random_values(M * K, g), B = random_values(K * N, g), C0 = random_values(M * ldc, g);
                    const auto scale = random_values(M, g, 0.5, 2.0), shift = random_values(M, g), add = random_values(M * ldc, g);
                    for (const bool accumulate : {false, true})
                        for (const bool relu : {false, true}) {
                            INFO("threads " << threads << ", M " << M << ", N " << N << ", K " << K << ", accumulate "
                                            << accumulate << ", relu " << relu);
                            const kernels::ChannelEpilogue epi{scale.data(), shift.data(), add.data(), ldc, relu};
                            auto c1 = C0, c2 = C0;
                            kernels::gemm(M, N, K, kernels::row_major(A.data(), K), B.data(), N, c1.data(), ldc, accumulate, epi);
                            kernels::packed_gemm(M, N, K, kernels::row_major(A.data(), K),
                                                 kernels::MatrixB{B.data(), static_cast<std::ptrdiff_t>(N)}, c2.data(), ldc,
                                                 accumulate, epi);
                            REQUIRE(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)) == 0);
                            auto c3 = C0;  // rows split over the threads, each part's epilogue from its first row
                            kernels::gemm_parallel(M, N, K, kernels::row_major(A.data(), K), B.data(), N, c3.data(), ldc,
                                                   accumulate, epi);
                            REQUIRE(std::memcmp(c1.data(), c3.data(), c1.size() * sizeof(float)) == 0);
                            for (std::size_t i = 0; i < M; ++i) {
                                for (std::size_t j = 0; j < N; ++j) {
                                    double s = accumulate ? C0[i * ldc + j] : 0.0;
                                    for (std::size_t k = 0; k < K; ++k) s += double(A[i * K + k]) * B[k * N + j];
                                    s = scale[i] * s + shift[i] + add[i * ldc + j];
                                    if (relu && s < 0.0) s = 0.0;
                                    REQUIRE(c2[i * ldc + j] == Approx(s).margin(2e-4));
                                }
                                for (std::size_t j = N; j < ldc; ++j) REQUIRE(c2[i * ldc + j] == C0[i * ldc + j]);
                            }
                        }
                }
    }
}

TEST_CASE("infer runs Conv2d, BatchNorm2d (trained statistics) and ReLU as one product: a naive computation in double "
          "agrees, and forward's bits are kept on every convolution path", "[nn][inference]") {
    Generator g(42);
    // Each case picks a Conv2d path: a thread per sample with whole vectors of positions (16x16), padded ones
    // (10x10), a 1x1 convolution reading its input in place, the lone sample split over threads (batch 1 on 2
    // threads), the batch as one product (6x6 positions, 8 samples), and the direct path of small valid convolutions.
    const auto run = [&]<class Conv, std::size_t C>(std::type_identity<Conv>, std::type_identity<BatchNorm2d<C>>,
                                                    std::vector<std::size_t> shape, std::size_t pad, std::size_t threads) {
        const ThreadCount tc(threads);
        Sequential<Conv, BatchNorm2d<C>, ReLU> with_relu(g);
        Sequential<Conv, BatchNorm2d<C>> without(g);
        const Tensor x = random_tensor(shape, g);
        INFO("input " << shape_string(shape) << ", threads " << threads << ", kernel " << Conv::kernel_size);
        Tensor conv_out;
        with_relu.template get<0>().forward(x, conv_out);
        train_statistics(with_relu.template get<1>(), conv_out, g);
        without.template get<1>() = with_relu.template get<1>();
        without.template get<0>() = with_relu.template get<0>();
        Tensor forward_y, infer_y;
        with_relu.forward(x, forward_y);
        infer(with_relu, x, infer_y);
        CHECK(same_bits(infer_y, forward_y));
        CHECK(max_relative_error(infer_y, naive_conv_bn(x, with_relu.template get<0>(), with_relu.template get<1>(), pad,
                                                        nullptr, true)) < 1e-5);
        // and with a residual and a ReLU after, as a ResNet block's last convolution takes them
        const Tensor skip = random_tensor(std::vector<std::size_t>(forward_y.shape().begin(), forward_y.shape().end()), g);
        const PostOp sum{nullptr, nullptr, &skip, true};
        infer(without, x, infer_y, &sum);
        CHECK(max_relative_error(infer_y, naive_conv_bn(x, without.template get<0>(), without.template get<1>(), pad,
                                                        &skip, true)) < 1e-5);
        without.forward(x, forward_y);
        Tensor unfused = Tensor::from_shape(std::vector<std::size_t>(forward_y.shape().begin(), forward_y.shape().end()));
        kernels::add_relu(forward_y.data(), skip.data(), unfused.data(), unfused.size());
        CHECK(same_bits(infer_y, unfused));
    };
    using P = PadMode;
    for (const std::size_t threads : {1, 2}) {
        run(std::type_identity<Conv2d<5, 24, 3, P::pad, 1, 1>>{}, std::type_identity<BatchNorm2d<24>>{}, {3, 5, 16, 16}, 1, threads);
        run(std::type_identity<Conv2d<5, 19, 3, P::pad, 1, 1>>{}, std::type_identity<BatchNorm2d<19>>{}, {3, 5, 10, 10}, 1, threads);
        run(std::type_identity<Conv2d<16, 20, 1, P::pad, 1, 0>>{}, std::type_identity<BatchNorm2d<20>>{}, {2, 16, 16, 16}, 0, threads);
        run(std::type_identity<Conv2d<6, 30, 3, P::pad, 2, 1, true>>{}, std::type_identity<BatchNorm2d<30>>{}, {1, 6, 21, 21}, 1, threads);
        run(std::type_identity<Conv2d<7, 33, 3, P::pad, 1, 1>>{}, std::type_identity<BatchNorm2d<33>>{}, {8, 7, 6, 6}, 1, threads);
        run(std::type_identity<Conv2d<1, 6, 5, P::valid, 1, 0, true>>{}, std::type_identity<BatchNorm2d<6>>{}, {4, 1, 32, 32}, 0, threads);
    }
}

TEST_CASE("a residual block's inference adds the shortcut and applies the ReLU in the body's last product: forward's bits, "
          "with or without a down_sample, and no backward after it", "[nn][inference]") {
    Generator g(43);
    using Body = Sequential<Conv2d<8, 8, 3, PadMode::pad, 1, 1>, BatchNorm2d<8>, ReLU, Conv2d<8, 16, 1, PadMode::pad>, BatchNorm2d<16>>;
    using Down = Named<"down_sample", Sequential<Conv2d<8, 16, 1, PadMode::pad>, BatchNorm2d<16>>>;
    Residual<Body, Down> block(g);
    Residual<Sequential<Conv2d<16, 16, 3, PadMode::pad, 1, 1>, BatchNorm2d<16>>> identity_block(g);
    const Tensor x = random_tensor({4, 8, 12, 12}, g);
    block.set_train(true);
    identity_block.set_train(true);
    Tensor y, z;
    for (int i = 0; i < 2; ++i) {  // statistics away from their defaults
        block.forward(x, y);
        identity_block.forward(y, z);
    }
    block.set_train(false);
    identity_block.set_train(false);
    Tensor forward_y, infer_y, forward_z, infer_z;
    block.forward(x, forward_y);
    identity_block.forward(forward_y, forward_z);
    infer(block, x, infer_y);
    infer(identity_block, infer_y, infer_z);
    CHECK(same_bits(infer_y, forward_y));
    CHECK(same_bits(infer_z, forward_z));
    Tensor dx;
    CHECK_THROWS_AS(block.backward(x, infer_y, infer_y, &dx), ShapeError);
    block.forward(x, forward_y);  // forward again: backward is allowed
    CHECK_NOTHROW(block.backward(x, forward_y, forward_y, &dx));
}

TEST_CASE("a residual of another shape than the output is a ShapeError naming both, not a read past it", "[nn][inference]") {
    Generator g(44);
    Sequential<Conv2d<3, 4, 3, PadMode::pad, 1, 1>, BatchNorm2d<4>> net(g);
    const Tensor x = random_tensor({2, 3, 8, 8}, g);
    const Tensor wrong = random_tensor({2, 4, 4, 4}, g);
    const PostOp post{nullptr, nullptr, &wrong, true};
    Tensor y;
    REQUIRE_THROWS_AS(infer(net, x, y, &post), ShapeError);
    REQUIRE_THROWS_WITH(infer(net, x, y, &post), Catch::Contains("[2, 4, 4, 4]") && Catch::Contains("[2, 4, 8, 8]"));
}

TEST_CASE("a BatchNorm in training mode is not folded: infer then equals forward with batch statistics", "[nn][inference]") {
    Generator g(45);
    Sequential<Conv2d<3, 4, 3, PadMode::pad, 1, 1>, BatchNorm2d<4>, ReLU> a(g), b(g);
    b = a;
    a.set_train(true);
    b.set_train(true);
    const Tensor x = random_tensor({2, 3, 8, 8}, g);
    Tensor ya, yb;
    a.forward(x, ya);
    infer(b, x, yb);
    CHECK(same_bits(ya, yb));
    CHECK(same_bits(Tensor(a.get<1>().moving_mean()), Tensor(b.get<1>().moving_mean())));
}
