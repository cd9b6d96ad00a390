// nn/kernels/winograd.hpp and Conv2d's Winograd path: against a direct convolution in double, bit for bit across
// thread counts and batch splits, the filter transform refreshed when weights change, fused inference, gradients.
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
#include "mindsave/nn/kernels/winograd.hpp"
#include "mindsave/nn/sequential.hpp"
#include "support/naive_conv.hpp"

using namespace mindsave;

namespace {

Tensor random_tensor(std::vector<std::size_t> shape, Generator& g) {
    Tensor t = Tensor::from_shape(shape);
    for (auto& v : t) v = static_cast<float>(g.uniform(-1.0, 1.0));
    return t;
}

struct ThreadCount {
    std::size_t saved = num_threads();
    explicit ThreadCount(std::size_t n) { set_num_threads(n); }
    ~ThreadCount() { set_num_threads(saved); }
};

// The convolution in double, and per output the sum of |x w| over its terms: the scale its float rounding is
// measured against.
struct Reference {
    std::vector<double> y, magnitude;
};
Reference direct(const Tensor& x, const float* w, const float* bias, std::size_t out, std::size_t pad_top,
                 std::size_t pad_left, std::size_t oh, std::size_t ow) {
    const std::size_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
    Reference r{std::vector<double>(N * out * oh * ow, 0.0), std::vector<double>(N * out * oh * ow, 0.0)};
    const testing::NaiveConv nc{N, C, H, W, out, 3, 1, pad_top, pad_left, oh, ow};
    nc.each([&](std::size_t xi, std::size_t wi, std::size_t yi) {
        r.y[yi] += double(x.data()[xi]) * w[wi];
        r.magnitude[yi] += std::abs(double(x.data()[xi]) * w[wi]);
    });
    if (bias)
        for (std::size_t i = 0; i < r.y.size(); ++i) r.y[i] += bias[(i / (oh * ow)) % out];
    return r;
}

// The worst error as a fraction of the largest term magnitude: F(4x4, 3x3) mixes a tile's 36 inputs with
// weights up to 5 x 5 before the products, so its rounding scales with its neighbourhood, not one output.
double worst_error(const float* got, const Reference& want) {
    double scale = 0.0, worst = 0.0;
    for (const double m : want.magnitude) scale = std::max(scale, m);
    for (std::size_t i = 0; i < want.y.size(); ++i) worst = std::max(worst, std::abs(got[i] - want.y[i]));
    return worst / scale;
}

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("winograd_conv computes the 3x3 stride-1 convolution: a direct one in double agrees within float rounding, "
          "over ragged sizes, any padding, bias, a batch of samples and 1 and 2 threads", "[kernels][winograd]") {
    Generator g(61);
    struct Case {
        std::size_t N, In, Out, H, W, pad_top, pad_left, pad_bottom, pad_right;
        bool bias;
    };
    // 4x4 tiles against sizes that are not multiples of 4, pads from none to two (tiles reaching past the input),
    // channels off the vector width, a batch split into blocks across samples.
    const Case cases[] = {{3, 16, 24, 10, 13, 1, 1, 1, 1, true},  {2, 17, 16, 9, 9, 0, 0, 0, 0, false},
                          {1, 16, 40, 23, 19, 2, 2, 2, 2, false}, {5, 24, 16, 7, 7, 1, 1, 1, 1, true},
                          {1, 64, 64, 56, 56, 1, 1, 1, 1, false}, {4, 16, 16, 16, 12, 0, 1, 1, 0, false}};
    for (const std::size_t threads : {1, 2}) {
        const ThreadCount tc(threads);
        for (const Case& c : cases) {
            const std::size_t OH = c.H + c.pad_top + c.pad_bottom - 2, OW = c.W + c.pad_left + c.pad_right - 2;
            INFO("N " << c.N << ", " << c.In << " -> " << c.Out << " channels, " << c.H << "x" << c.W << ", pad "
                      << c.pad_top << "/" << c.pad_left << ", threads " << threads);
            const Tensor x = random_tensor({c.N, c.In, c.H, c.W}, g);
            const Tensor w = random_tensor({c.Out, c.In, 3, 3}, g);
            const Tensor b = random_tensor({c.Out}, g);
            const kernels::ConvGeometry geometry{c.In, c.H, c.W, 3, 1, c.pad_top, c.pad_left, OH, OW};
            kernels::WinogradScratch s;
            kernels::winograd_filters(w.data(), c.Out, c.In, s);
            kernels::winograd_prepare(s, c.N, geometry, c.Out);
            std::vector<float> y(c.N * c.Out * OH * OW, -7.0f);
            kernels::winograd_conv(x.data(), c.N, geometry, c.Out, s, c.bias ? b.data() : nullptr, y.data());
            const Reference want = direct(x, w.data(), c.bias ? b.data() : nullptr, c.Out, c.pad_top, c.pad_left, OH, OW);
            // Measured 6e-7 to 1.5e-6 of the largest magnitude (2026-12-08).
            CHECK(worst_error(y.data(), want) < 1e-5);
        }
    }
}

TEST_CASE("Conv2d's Winograd forward gives the same bits on 1 and 2 threads, in one batch or split into two, and a "
          "changed weight is taken up (the filters' transform is not stale)", "[nn][winograd]") {
    Generator g(62);
    Conv2d<16, 32, 3, PadMode::same, 1, 0, true> conv(g);
    const Tensor x = random_tensor({6, 16, 15, 15}, g);  // 16 tiles a sample: 96 in the batch, 48 in each half
    const kernels::ConvGeometry geometry{16, 15, 15, 3, 1, 1, 1, 15, 15};
    REQUIRE(kernels::winograd_applies(geometry, 32, 3));  // the path under test, halves included
    Tensor one, two;
    {
        const ThreadCount tc(1);
        conv.forward(x, one);
    }
    {
        const ThreadCount tc(2);
        conv.forward(x, two);
    }
    CHECK(same_bits(one, two));
    const std::size_t half = x.size() / 2;
    Tensor first = Tensor::from_shape({3, 16, 15, 15}), second = Tensor::from_shape({3, 16, 15, 15}), y1, y2;
    std::copy(x.data(), x.data() + half, first.data());
    std::copy(x.data() + half, x.data() + x.size(), second.data());
    conv.forward(first, y1);
    conv.forward(second, y2);
    CHECK(std::memcmp(y1.data(), one.data(), y1.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(y2.data(), one.data() + y1.size(), y2.size() * sizeof(float)) == 0);
    CHECK(worst_error(one.data(), direct(x, conv.weight().value.data(), conv.bias().value.data(), 32, 1, 1, 15, 15)) < 1e-5);

    conv.weight().value(5, 3, 1, 2) += 0.75f;  // one weight changed in place: the next forward must see it
    Tensor after;
    conv.forward(x, after);
    CHECK(worst_error(after.data(), direct(x, conv.weight().value.data(), conv.bias().value.data(), 32, 1, 1, 15, 15)) < 1e-5);
    CHECK_FALSE(same_bits(after, one));
}

TEST_CASE("infer through a Winograd convolution applies the BatchNorm (trained statistics) and ReLU in its stores with "
          "forward's bits", "[nn][winograd][inference]") {
    Generator g(63);
    for (const std::size_t threads : {1, 2}) {
        const ThreadCount tc(threads);
        Sequential<Conv2d<16, 24, 3, PadMode::pad, 1, 1>, BatchNorm2d<24>, ReLU> net(g);
        const Tensor x = random_tensor({2, 16, 18, 18}, g);  // 25 tiles a sample, 50 in all
        auto& bn = net.get<1>();
        bn.set_train(true);
        Tensor y;
        for (int i = 0; i < 3; ++i) net.forward(x, y);  // moving statistics away from 0 and 1
        for (auto& v : bn.gamma().value) v = static_cast<float>(g.uniform(0.5, 1.5));
        for (auto& v : bn.beta().value) v = static_cast<float>(g.uniform(-0.5, 0.5));
        net.set_train(false);
        Tensor forward_y, infer_y;
        net.forward(x, forward_y);
        infer(net, x, infer_y);
        INFO("threads " << threads);
        CHECK(same_bits(infer_y, forward_y));
        std::size_t positive = 0;
        for (const float v : infer_y) positive += v > 0.0f;
        CHECK(positive > infer_y.size() / 4);  // the ReLU left something to compare
        CHECK(positive < infer_y.size());
    }
}

TEST_CASE("backward after a Winograd forward is the gradient of that forward: central differences of a loss agree, "
          "per sample and for small images whose backward runs as one batched product", "[nn][winograd]") {
    Generator g(64);
    Conv2d<16, 16, 3, PadMode::same> conv(g);
    // 32 tiles either way: two 16x16 samples (per-sample backward) and eight 7x7 ones (batched backward)
    for (const auto& shape : {std::vector<std::size_t>{2, 16, 16, 16}, std::vector<std::size_t>{8, 16, 7, 7}}) {
        const std::size_t N = shape[0], side = shape[2];
        INFO("input " << shape_string(shape));
        REQUIRE(kernels::winograd_applies({16, side, side, 3, 1, 1, 1, side, side}, 16, N));
        const Tensor x = random_tensor(shape, g);
        Tensor y;
        conv.forward(x, y);
        const Tensor r = random_tensor(std::vector<std::size_t>(y.shape().begin(), y.shape().end()), g);
        const auto loss = [&](const Tensor& input) {  // sum(y * r), in double
            Tensor out;
            conv.forward(input, out);
            double s = 0.0;
            for (std::size_t i = 0; i < out.size(); ++i) s += double(out.data()[i]) * r.data()[i];
            return s;
        };
        Tensor dx;
        conv.weight().zero_grad();
        conv.backward(x, y, r, &dx);
        // The loss is linear in each weight and input, so a wide step costs no truncation error, only rounding.
        const float h = 0.25f;
        for (const std::size_t i : {std::size_t{0}, std::size_t{777}, std::size_t{2303}}) {
            float& w = conv.weight().value.data()[i];
            const float keep = w;
            w = keep + h;
            const double up = loss(x);
            w = keep - h;
            const double down = loss(x);
            w = keep;
            INFO("weight " << i);
            CHECK(conv.weight().grad.data()[i] == Approx((up - down) / (2 * h)).epsilon(1e-3).margin(1e-3));
        }
        for (const std::size_t i : {std::size_t{5}, x.size() / 2 + 3, x.size() - 1}) {
            Tensor moved = x;
            moved.data()[i] += h;
            const double up = loss(moved);
            moved.data()[i] = x.data()[i] - h;
            const double down = loss(moved);
            INFO("input " << i);
            CHECK(dx.data()[i] == Approx((up - down) / (2 * h)).epsilon(1e-3).margin(1e-3));
        }
    }
}
