// nn/: kernels against naive implementations, layer outputs against direct formulas, and one
// shared finite-difference check of every layer's backward (input and parameter gradients).
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/mindsave.hpp"
#include "mindsave/models/resnet50.hpp"
#include "mindsave/nn/batchnorm.hpp"
#include "mindsave/nn/residual.hpp"

using namespace mindsave;

namespace {

Tensor random_tensor(const Shape& shape, Generator& g, double scale = 1.0) {
    Tensor t = Tensor::from_shape(shape);
    for (auto& v : t) v = static_cast<float>(g.uniform(-scale, scale));
    return t;
}

// Direct convolution (cross-correlation, as MindSpore's Conv2D) with explicit padding, in double.
std::vector<double> naive_conv(const Tensor& x, const Tensor& w, std::size_t stride, std::size_t pad_top,
                               std::size_t pad_left, std::size_t OH, std::size_t OW) {
    const std::size_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
    const std::size_t O = w.shape()[0], K = w.shape()[2];
    std::vector<double> y(N * O * OH * OW, 0.0);
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t o = 0; o < O; ++o)
            for (std::size_t oh = 0; oh < OH; ++oh)
                for (std::size_t ow = 0; ow < OW; ++ow) {
                    double s = 0;
                    for (std::size_t c = 0; c < C; ++c)
                        for (std::size_t i = 0; i < K; ++i)
                            for (std::size_t j = 0; j < K; ++j) {
                                const auto ih = static_cast<std::ptrdiff_t>(oh * stride + i) -
                                                static_cast<std::ptrdiff_t>(pad_top);
                                const auto iw = static_cast<std::ptrdiff_t>(ow * stride + j) -
                                                static_cast<std::ptrdiff_t>(pad_left);
                                if (ih < 0 || iw < 0 || ih >= static_cast<std::ptrdiff_t>(H) ||
                                    iw >= static_cast<std::ptrdiff_t>(W))
                                    continue;
                                s += double(x(n, c, std::size_t(ih), std::size_t(iw))) * w(o, c, i, j);
                            }
                    y[((n * O + o) * OH + oh) * OW + ow] = s;
                }
    return y;
}

}  // namespace

TEST_CASE("gemm matches a naive product for every shape class, transposed A and accumulation", "[kernels]") {
    Generator g(3);
    for (std::size_t M : {1, 3, 4, 5, 9}) {
        for (std::size_t N : {1, 7, 16, 33, 70}) {
            for (std::size_t K : {1, 5, 31}) {
                Tensor A = random_tensor({M, K}, g), At = random_tensor({K, M}, g), B = random_tensor({K, N}, g);
                Tensor C0 = random_tensor({M, N}, g);
                for (bool transA : {false, true}) {
                    for (bool acc : {false, true}) {
                        Tensor C = C0;
                        const auto a = transA ? kernels::transposed(At.data(), M) : kernels::row_major(A.data(), K);
                        kernels::gemm(M, N, K, a, B.data(), N, C.data(), N, acc);
                        for (std::size_t i = 0; i < M; ++i)
                            for (std::size_t j = 0; j < N; ++j) {
                                double s = acc ? C0(i, j) : 0.0;
                                for (std::size_t k = 0; k < K; ++k)
                                    s += double(transA ? At(k, i) : A(i, k)) * B(k, j);
                                REQUIRE(C(i, j) == Approx(s).margin(1e-4));
                            }
                    }
                }
            }
        }
    }
}

TEST_CASE("col2im (overwriting) equals a naive adjoint of im2col, in chunked column layouts and every fast path",
          "[kernels]") {
    Generator g(11);
    struct Case { std::size_t C, H, W, K, S, pad; };
    // valid stride 1 with rows up to a vector wide (the gather path), wider rows, padding, stride 2
    for (const Case cs : {Case{6, 14, 14, 5, 1, 0}, Case{2, 8, 8, 3, 1, 0}, Case{3, 9, 7, 2, 1, 0},
                          Case{2, 20, 20, 5, 1, 0}, Case{2, 7, 7, 3, 1, 1}, Case{2, 9, 9, 3, 2, 1}}) {
        const std::size_t OH = (cs.H + 2 * cs.pad - cs.K) / cs.S + 1, OW = (cs.W + 2 * cs.pad - cs.K) / cs.S + 1;
        const kernels::ConvGeometry geo{cs.C, cs.H, cs.W, cs.K, cs.S, cs.pad, cs.pad, OH, OW};
        const std::size_t R = geo.col_rows(), P = geo.col_cols(), in_size = cs.C * cs.H * cs.W;
        const std::size_t Pp = (P + kernels::simd_width - 1) / kernels::simd_width * kernels::simd_width;
        const std::size_t samples = 3, ld = samples * Pp;  // samples side by side, as Conv2d's backward keeps them
        Tensor col = random_tensor({R, ld}, g);
        for (std::size_t s = 0; s < samples; ++s) {
            std::vector<double> expect(in_size, 0.0);
            for (std::size_t c = 0; c < cs.C; ++c)
                for (std::size_t i = 0; i < cs.K; ++i)
                    for (std::size_t j = 0; j < cs.K; ++j)
                        for (std::size_t oh = 0; oh < OH; ++oh)
                            for (std::size_t ow = 0; ow < OW; ++ow) {
                                const auto ih = std::ptrdiff_t(oh * cs.S + i) - std::ptrdiff_t(cs.pad);
                                const auto iw = std::ptrdiff_t(ow * cs.S + j) - std::ptrdiff_t(cs.pad);
                                if (ih < 0 || iw < 0 || ih >= std::ptrdiff_t(cs.H) || iw >= std::ptrdiff_t(cs.W))
                                    continue;
                                expect[(c * cs.H + std::size_t(ih)) * cs.W + std::size_t(iw)] +=
                                    col(((c * cs.K + i) * cs.K + j), s * Pp + oh * OW + ow);
                            }
            // guard values after the sample catch a store past its end
            std::vector<float> dx(in_size + 2 * kernels::simd_width, 7.0f);
            kernels::col2im(col.data() + s * Pp, geo, dx.data(), ld, Pp);
            for (std::size_t i = 0; i < in_size; ++i) REQUIRE(dx[i] == Approx(expect[i]).margin(1e-5));
            for (std::size_t i = in_size; i < dx.size(); ++i) REQUIRE(dx[i] == 7.0f);
            std::vector<float> added(in_size, 0.0f);  // the scatter path gives the same bits
            kernels::col2im_add(col.data() + s * Pp, geo, added.data(), ld, Pp);
            for (std::size_t i = 0; i < in_size; ++i) REQUIRE(std::memcmp(&added[i], &dx[i], sizeof(float)) == 0);
        }
    }
}

TEST_CASE("max_pool 2x2 (vector and scalar windows) equals a naive scan: first maximum wins, ties and -inf",
          "[kernels][pool]") {
    Generator g(12);
    for (std::size_t planes : {1, 3}) {
        for (std::size_t H : {2, 5, 10, 28}) {
            for (std::size_t W : {2, 7, 10, 28, 33, 40}) {
                std::vector<float> x(planes * H * W);
                for (auto& v : x) v = static_cast<float>(g.below(4));  // many ties
                x[g.below(x.size())] = -std::numeric_limits<float>::infinity();
                const kernels::PoolGeometry geo{planes, H, W, 2, 2, 0, 0, H / 2, W / 2};
                const std::size_t OH = H / 2, OW = W / 2;
                std::vector<float> y(planes * OH * OW);
                std::vector<std::uint32_t> arg(y.size());
                kernels::max_pool(x.data(), geo, y.data(), arg.data());
                for (std::size_t p = 0; p < planes; ++p)
                    for (std::size_t oh = 0; oh < OH; ++oh)
                        for (std::size_t ow = 0; ow < OW; ++ow) {
                            float best = -std::numeric_limits<float>::infinity();
                            std::size_t where = 2 * oh * W + 2 * ow;
                            for (std::size_t i = 2 * oh; i < 2 * oh + 2; ++i)
                                for (std::size_t j = 2 * ow; j < 2 * ow + 2; ++j)
                                    if (x[p * H * W + i * W + j] > best) {
                                        best = x[p * H * W + i * W + j];
                                        where = i * W + j;
                                    }
                            const std::size_t o = (p * OH + oh) * OW + ow;
                            REQUIRE(y[o] == best);
                            REQUIRE(arg[o] == where);
                        }
            }
        }
    }
}

TEST_CASE("gemm_nt (rows of A against rows of B) matches a naive product, with accumulation", "[kernels]") {
    Generator g(4);
    for (std::size_t M : {1, 2, 3, 6}) {
        for (std::size_t N : {1, 4, 5, 25}) {
            for (std::size_t K : {1, 15, 16, 17, 100}) {
                Tensor A = random_tensor({M, K}, g), B = random_tensor({N, K}, g), C0 = random_tensor({M, N}, g);
                for (bool acc : {false, true}) {
                    Tensor C = C0;
                    kernels::gemm_nt(M, N, K, A.data(), K, B.data(), K, C.data(), N, acc);
                    for (std::size_t i = 0; i < M; ++i)
                        for (std::size_t j = 0; j < N; ++j) {
                            double s = acc ? C0(i, j) : 0.0;
                            for (std::size_t k = 0; k < K; ++k) s += double(A(i, k)) * B(j, k);
                            REQUIRE(C(i, j) == Approx(s).margin(1e-4));
                        }
                }
            }
        }
    }
}

TEST_CASE("Conv2d output sizes follow MindSpore's pad modes", "[conv]") {
    STATIC_REQUIRE(Conv2d<1, 1, 5, PadMode::valid>::output_size(32) == 28);
    STATIC_REQUIRE(Conv2d<1, 1, 3, PadMode::same, 2>::output_size(7) == 4);
    STATIC_REQUIRE(Conv2d<1, 1, 7, PadMode::pad, 2, 3>::output_size(224) == 112);
    STATIC_REQUIRE(Conv2d<1, 1, 3, PadMode::valid, 2>::output_size(8) == 3);
}

template <class Conv>
void check_conv_against_naive(std::size_t H, std::size_t W, std::size_t pad_top, std::size_t pad_left) {
    Generator g(11);
    Conv conv(g);
    Tensor x = random_tensor({2, Conv::in_channels, H, W}, g), y;
    conv.forward(x, y);
    const std::size_t OH = Conv::output_size(H), OW = Conv::output_size(W);
    REQUIRE(y.shape() == Tensor::shape_type{2, Conv::out_channels, OH, OW});
    Tensor w = conv.weight().value;
    auto expect = naive_conv(x, w, Conv::stride, pad_top, pad_left, OH, OW);
    if constexpr (Conv::has_bias)
        for (std::size_t i = 0; i < expect.size(); ++i) expect[i] += conv.bias().value((i / (OH * OW)) % Conv::out_channels);
    for (std::size_t i = 0; i < expect.size(); ++i) REQUIRE(y.data()[i] == Approx(expect[i]).margin(1e-4));
}

TEST_CASE("Conv2d forward equals direct convolution in valid, same (odd pad at the end) and pad modes", "[conv]") {
    check_conv_against_naive<Conv2d<2, 3, 3, PadMode::valid>>(7, 6, 0, 0);
    check_conv_against_naive<Conv2d<2, 3, 3, PadMode::same>>(7, 6, 1, 1);
    check_conv_against_naive<Conv2d<2, 3, 4, PadMode::same>>(6, 6, 1, 1);  // total pad 3: 1 before, 2 after
    check_conv_against_naive<Conv2d<2, 3, 3, PadMode::same, 2>>(8, 7, 0, 1);  // 8: pad 1 -> 0 + 1; 7: pad 2
    check_conv_against_naive<Conv2d<2, 4, 3, PadMode::pad, 2, 1, true>>(9, 8, 1, 1);
    check_conv_against_naive<Conv2d<1, 6, 5, PadMode::valid>>(32, 32, 0, 0);
}

TEST_CASE("Conv2d's direct paths (rows as vectors, channels as vectors) equal direct convolution, with bias, "
          "for every row remainder", "[conv]") {
    using kernels::DirectConv, kernels::direct_conv_path, kernels::simd_width;
    const auto valid = [](std::size_t C, std::size_t H, std::size_t W, std::size_t K) {
        return kernels::ConvGeometry{C, H, W, K, 1, 0, 0, H - K + 1, W - K + 1};
    };
    // LeNet's two convolutions take a direct path with AVX-512 (elsewhere conv1 may not fit the registers)
    if (simd_width >= 16) {
        CHECK(direct_conv_path<6>(valid(1, 32, 32, 5)) != DirectConv::none);
        CHECK(direct_conv_path<16>(valid(6, 14, 14, 5)) != DirectConv::none);
    }
    CHECK(direct_conv_path<6>(kernels::ConvGeometry{1, 32, 32, 5, 2, 0, 0, 14, 14}) == DirectConv::none);  // stride 2
    CHECK(direct_conv_path<6>(kernels::ConvGeometry{1, 32, 32, 5, 1, 2, 2, 32, 32}) == DirectConv::none);  // padded
    CHECK(direct_conv_path<256>(valid(64, 14, 14, 1)) == DirectConv::none);  // too many channels for registers

    check_conv_against_naive<Conv2d<1, 6, 5, PadMode::valid>>(20, 20, 0, 0);  // rows of exactly 16
    check_conv_against_naive<Conv2d<1, 6, 5, PadMode::valid>>(21, 37, 0, 0);  // rows of 33: three vectors
    check_conv_against_naive<Conv2d<2, 5, 3, PadMode::valid, 1, 0, true>>(12, 20, 0, 0);
    check_conv_against_naive<Conv2d<6, 16, 5, PadMode::valid>>(14, 14, 0, 0);   // LeNet's conv2: rows of 10
    check_conv_against_naive<Conv2d<6, 16, 5, PadMode::valid>>(18, 19, 0, 0);   // rows of 15: a block and a rest
    check_conv_against_naive<Conv2d<3, 8, 3, PadMode::valid, 1, 0, true>>(11, 13, 0, 0);
    check_conv_against_naive<Conv2d<4, 24, 3, PadMode::valid, 1, 0, true>>(10, 30, 0, 0);  // a vector and a part
}

TEST_CASE("Dense forward is x W^T + b with MindSpore's [out, in] weight layout", "[dense]") {
    Generator g(5);
    Dense<7, 3> dense(g);
    Tensor x = random_tensor({4, 7}, g), y;
    dense.forward(x, y);
    for (std::size_t n = 0; n < 4; ++n)
        for (std::size_t o = 0; o < 3; ++o) {
            double s = dense.bias().value(o);
            for (std::size_t i = 0; i < 7; ++i) s += double(x(n, i)) * dense.weight().value(o, i);
            CHECK(y(n, o) == Approx(s).margin(1e-5));
        }
}

TEST_CASE("MaxPool2d takes the window maximum and routes the gradient to it", "[pool]") {
    MaxPool2d<2, 2> pool;
    Tensor x = Tensor::from_shape({1, 1, 4, 4}), y, dx;
    for (std::size_t i = 0; i < 16; ++i) x.data()[i] = float((i * 7) % 16);
    pool.forward(x, y);
    REQUIRE(y.shape() == Tensor::shape_type{1, 1, 2, 2});
    for (std::size_t oh = 0; oh < 2; ++oh)
        for (std::size_t ow = 0; ow < 2; ++ow) {
            float m = -1;
            for (std::size_t i = 0; i < 2; ++i)
                for (std::size_t j = 0; j < 2; ++j) m = std::max(m, x(0, 0, oh * 2 + i, ow * 2 + j));
            CHECK(y(0, 0, oh, ow) == m);
        }
    Tensor dy = xt::ones<float>({1, 1, 2, 2});
    pool.backward(x, y, dy, &dx);
    CHECK(xt::sum(dx)() == 4.0f);
    for (std::size_t i = 0; i < 16; ++i)
        if (dx.data()[i] != 0.0f) CHECK(x.data()[i] >= 12.0f - 4.0f);
}

TEST_CASE("Conv2d's ResNet geometries: 7x7 stride 2 pad 3 and 1x1 stride 2 equal direct convolution", "[conv]") {
    STATIC_REQUIRE(Conv2d<1, 1, 1, PadMode::pad, 2>::output_size(56) == 28);
    STATIC_REQUIRE(Conv2d<1, 1, 3, PadMode::pad, 2, 1>::output_size(56) == 28);
    check_conv_against_naive<Conv2d<3, 4, 7, PadMode::pad, 2, 3>>(16, 15, 3, 3);
    check_conv_against_naive<Conv2d<3, 4, 1, PadMode::pad, 2>>(9, 8, 0, 0);
    check_conv_against_naive<Conv2d<3, 4, 3, PadMode::pad, 2, 1>>(8, 9, 1, 1);
}

TEST_CASE("Conv2d's two paths (per sample, or whole batch when outputs are small) equal direct convolution",
          "[conv]") {
    using C = Conv2d<2, 4, 3, PadMode::pad, 2, 1, true>;
    STATIC_REQUIRE(C::batched_below == 64);
    check_conv_against_naive<C>(18, 17, 1, 1);  // 9 x 9 = 81 outputs a sample: per sample
    check_conv_against_naive<C>(15, 16, 1, 1);  // 8 x 8 = 64: per sample
    check_conv_against_naive<C>(14, 16, 1, 1);  // 7 x 8 = 56: batched
    check_conv_against_naive<C>(1, 1, 1, 1);    // 1 x 1: batched
}

namespace {
// Window reference for the padded pools: rows and columns [o*S - pad, o*S - pad + K) inside the input.
template <class Reduce>
std::vector<double> naive_pool(const Tensor& x, std::size_t K, std::size_t S, std::size_t pad_top, std::size_t pad_left,
                               std::size_t OH, std::size_t OW, Reduce reduce) {
    const std::size_t P = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
    std::vector<double> y;
    for (std::size_t p = 0; p < P; ++p)
        for (std::size_t oh = 0; oh < OH; ++oh)
            for (std::size_t ow = 0; ow < OW; ++ow) {
                std::vector<double> window;
                for (std::size_t i = 0; i < K; ++i)
                    for (std::size_t j = 0; j < K; ++j) {
                        const auto ih = std::ptrdiff_t(oh * S + i) - std::ptrdiff_t(pad_top);
                        const auto iw = std::ptrdiff_t(ow * S + j) - std::ptrdiff_t(pad_left);
                        if (ih >= 0 && iw >= 0 && ih < std::ptrdiff_t(H) && iw < std::ptrdiff_t(W))
                            window.push_back(x.data()[(p * H + std::size_t(ih)) * W + std::size_t(iw)]);
                    }
                y.push_back(reduce(window));
            }
    return y;
}
double window_max(const std::vector<double>& w) { return *std::max_element(w.begin(), w.end()); }
double window_mean(const std::vector<double>& w) {
    double s = 0;
    for (double v : w) s += v;
    return s / double(w.size());
}
}  // namespace

TEST_CASE("MaxPool2d pad_mode same puts the odd padding pixel after, as MindSpore, and pad mode pads both sides",
          "[pool]") {
    STATIC_REQUIRE(MaxPool2d<3, 2, PadMode::same>::output_size(112) == 56);
    STATIC_REQUIRE(MaxPool2d<3, 2, PadMode::same>::output_size(7) == 4);
    STATIC_REQUIRE(MaxPool2d<3, 2, PadMode::pad, 1>::output_size(112) == 56);
    STATIC_REQUIRE(MaxPool2d<2, 2>::output_size(28) == 14);
    Generator g(21);
    // negative inputs: a pool that let zero padding win would show it
    Tensor x = random_tensor({2, 3, 8, 7}, g) - 2.0f, y;
    MaxPool2d<3, 2, PadMode::same> same;
    same.forward(x, y);
    REQUIRE(y.shape() == Tensor::shape_type{2, 3, 4, 4});
    // 8 rows: total pad (4-1)*2+3-8 = 1, all of it after; 7 columns: pad 2, one each side
    auto expect = naive_pool(x, 3, 2, 0, 1, 4, 4, window_max);
    for (std::size_t i = 0; i < expect.size(); ++i) REQUIRE(y.data()[i] == float(expect[i]));
    MaxPool2d<3, 2, PadMode::pad, 1> pad;
    pad.forward(x, y);
    REQUIRE(y.shape() == Tensor::shape_type{2, 3, 4, 4});
    expect = naive_pool(x, 3, 2, 1, 1, 4, 4, window_max);
    for (std::size_t i = 0; i < expect.size(); ++i) REQUIRE(y.data()[i] == float(expect[i]));
    CHECK_THROWS_AS(same.forward(Tensor::from_shape({2, 3, 8}), y), ShapeError);
}

TEST_CASE("AvgPool2d: valid, same (padding not counted) and pad (padding counted) against window means", "[pool]") {
    Generator g(22);
    Tensor x = random_tensor({2, 2, 7, 6}, g), y;
    AvgPool2d<2, 2> valid;
    valid.forward(x, y);
    REQUIRE(y.shape() == Tensor::shape_type{2, 2, 3, 3});
    auto expect = naive_pool(x, 2, 2, 0, 0, 3, 3, window_mean);
    for (std::size_t i = 0; i < expect.size(); ++i) REQUIRE(y.data()[i] == Approx(expect[i]).margin(1e-6));
    AvgPool2d<3, 2, PadMode::same> same;
    same.forward(x, y);
    REQUIRE(y.shape() == Tensor::shape_type{2, 2, 4, 3});
    expect = naive_pool(x, 3, 2, 1, 0, 4, 3, window_mean);  // 7: pad 2 -> 1 + 1; 6: pad 1 -> 0 + 1
    for (std::size_t i = 0; i < expect.size(); ++i) REQUIRE(y.data()[i] == Approx(expect[i]).margin(1e-6));
    AvgPool2d<3, 2, PadMode::pad, 1> pad;
    pad.forward(x, y);
    REQUIRE(y.shape() == Tensor::shape_type{2, 2, 4, 3});
    expect = naive_pool(x, 3, 2, 1, 1, 4, 3, [](const std::vector<double>& w) { return window_mean(w) * double(w.size()) / 9.0; });
    for (std::size_t i = 0; i < expect.size(); ++i) REQUIRE(y.data()[i] == Approx(expect[i]).margin(1e-6));
}

TEST_CASE("GlobalAvgPooling is the mean over H and W, [N, C] by default and [N, C, 1, 1] with keep_dims",
          "[pool]") {
    Generator g(23);
    Tensor x = random_tensor({3, 5, 7, 7}, g), y, y4;
    GlobalAvgPooling<> pool;
    pool.forward(x, y);
    REQUIRE(y.shape() == Tensor::shape_type{3, 5});
    GlobalAvgPooling<true> keep;
    keep.forward(x, y4);
    REQUIRE(y4.shape() == Tensor::shape_type{3, 5, 1, 1});
    for (std::size_t n = 0; n < 3; ++n)
        for (std::size_t c = 0; c < 5; ++c) {
            double s = 0;
            for (std::size_t i = 0; i < 49; ++i) s += x.data()[(n * 5 + c) * 49 + i];
            CHECK(y(n, c) == Approx(s / 49).margin(1e-6));
            CHECK(y4(n, c, 0, 0) == y(n, c));
        }
}

namespace {
// Per-channel mean and biased variance over N, H, W, in double.
std::pair<std::vector<double>, std::vector<double>> channel_moments(const Tensor& x) {
    const std::size_t N = x.shape()[0], C = x.shape()[1], HW = x.shape()[2] * x.shape()[3];
    std::vector<double> mean(C, 0.0), var(C, 0.0);
    for (std::size_t c = 0; c < C; ++c) {
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t i = 0; i < HW; ++i) mean[c] += x.data()[(n * C + c) * HW + i];
        mean[c] /= double(N * HW);
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t i = 0; i < HW; ++i) {
                const double d = x.data()[(n * C + c) * HW + i] - mean[c];
                var[c] += d * d;
            }
        var[c] /= double(N * HW);
    }
    return {mean, var};
}
}  // namespace

TEST_CASE("BatchNorm2d training: batch statistics, biased variance to normalize, unbiased to the moving average",
          "[batchnorm]") {
    Generator g(31);
    BatchNorm2d<3, 1e-5, 0.9, init::Uniform<2.0>, init::Uniform<1.0>> bn(g);
    CHECK_FALSE(bn.training());  // a fresh Cell is in inference mode, as in MindSpore
    bn.set_train(true);
    Tensor x = random_tensor({4, 3, 5, 6}, g, 3.0) + 7.0f, y;  // a large mean tests the two-pass variance
    bn.forward(x, y);
    const auto [mean, var] = channel_moments(x);
    const double M = 4 * 5 * 6;
    for (std::size_t c = 0; c < 3; ++c) {
        const double gamma = bn.gamma().value(c), beta = bn.beta().value(c);
        for (std::size_t n = 0; n < 4; ++n)
            for (std::size_t i = 0; i < 30; ++i) {
                const double expect = gamma * (x.data()[(n * 3 + c) * 30 + i] - mean[c]) / std::sqrt(var[c] + 1e-5) + beta;
                REQUIRE(y.data()[(n * 3 + c) * 30 + i] == Approx(expect).margin(1e-4));
            }
        CHECK(bn.moving_mean()(c) == Approx(0.9 * 0.0 + 0.1 * mean[c]).epsilon(1e-5));
        CHECK(bn.moving_variance()(c) == Approx(0.9 * 1.0 + 0.1 * var[c] * M / (M - 1)).epsilon(1e-5));
    }
    // a second step averages again from the updated values
    const float mm = bn.moving_mean()(0), mv = bn.moving_variance()(0);
    bn.forward(x, y);
    CHECK(bn.moving_mean()(0) == Approx(0.9 * mm + 0.1 * mean[0]).epsilon(1e-5));
    CHECK(bn.moving_variance()(0) == Approx(0.9 * mv + 0.1 * var[0] * M / (M - 1)).epsilon(1e-5));
}

TEST_CASE("BatchNorm2d inference normalizes with the moving statistics and leaves them alone", "[batchnorm]") {
    Generator g(32);
    BatchNorm2d<2, 1e-3, 0.9, init::Uniform<2.0>, init::Uniform<1.0>> bn(g);
    bn.moving_mean() = {0.5f, -1.0f};
    bn.moving_variance() = {2.0f, 0.25f};
    Tensor x = random_tensor({2, 2, 3, 3}, g), y;
    bn.forward(x, y);
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t c = 0; c < 2; ++c)
            for (std::size_t i = 0; i < 9; ++i) {
                const double expect = bn.gamma().value(c) * (x(n, c, i / 3, i % 3) - bn.moving_mean()(c)) /
                                          std::sqrt(double(bn.moving_variance()(c)) + 1e-3) +
                                      bn.beta().value(c);
                REQUIRE(y(n, c, i / 3, i % 3) == Approx(expect).margin(1e-5));
            }
    CHECK(bn.moving_mean()(0) == 0.5f);
    CHECK(bn.moving_variance()(1) == 0.25f);
    CHECK_THROWS_WITH(bn.forward(Tensor::from_shape({2, 3, 3, 3}), y), Catch::Contains("expected input [N, 2, H, W]"));
}

TEST_CASE("BatchNorm2d visits MindSpore's four tensors in order, and Momentum trains only gamma and beta",
          "[batchnorm][optim]") {
    Sequential<Named<"bn", BatchNorm2d<4>>> net;
    std::vector<std::string> names, trainable;
    visit_parameters(net, [&](std::string_view n, auto& p) {
        names.emplace_back(n);
        CHECK(p.size() == 4);
        if constexpr (is_parameter<std::remove_cvref_t<decltype(p)>>::value) trainable.emplace_back(n);
    });
    CHECK(names == std::vector<std::string>{"bn.moving_mean", "bn.moving_variance", "bn.gamma", "bn.beta"});
    CHECK(trainable == std::vector<std::string>{"bn.gamma", "bn.beta"});
    auto& bn = net.get<"bn">();
    CHECK(bn.moving_mean()(0) == 0.0f);
    CHECK(bn.moving_variance()(0) == 1.0f);
    CHECK(bn.gamma().value(0) == 1.0f);
    CHECK(bn.beta().value(0) == 0.0f);
    Momentum opt(net, 0.1f, 0.9f);
    std::vector<std::string> state;
    visit_parameters(opt, [&](std::string_view n, auto&) { state.emplace_back(n); });
    CHECK(state == std::vector<std::string>{"global_step", "learning_rate", "momentum", "moments.bn.gamma",
                                            "moments.bn.beta"});
    STATIC_REQUIRE(BatchNorm2d<4>::eps == 1e-5);
    STATIC_REQUIRE(BatchNorm2d<4>::momentum == 0.9);
    STATIC_REQUIRE(BatchNorm2d<4>::num_features == 4);
}

TEST_CASE("Residual adds the shortcut before the ReLU and names parameters as mindvision's blocks", "[residual]") {
    using Body = Sequential<Named<"conv1", Conv2d<2, 3, 3, PadMode::pad, 2, 1>>>;
    Residual<Body, Named<"down_sample", Conv2d<2, 3, 1, PadMode::pad, 2>>> block;
    std::vector<std::string> names;
    visit_parameters(block, [&](std::string_view n, auto&) { names.emplace_back(n); });
    CHECK(names == std::vector<std::string>{"conv1.weight", "down_sample.weight"});
    Generator g(41);
    Tensor x = random_tensor({2, 2, 6, 5}, g), y, a, b;
    block.forward(x, y);
    block.body().forward(x, a);
    block.shortcut().forward(x, b);
    REQUIRE(y.shape() == a.shape());
    for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(y.data()[i] == std::max(a.data()[i] + b.data()[i], 0.0f));

    Residual<Sequential<Named<"conv1", Conv2d<2, 2, 3, PadMode::same>>>> same_shape;
    same_shape.forward(x, y);
    same_shape.body().forward(x, a);
    for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(y.data()[i] == std::max(a.data()[i] + x.data()[i], 0.0f));

    Residual<Sequential<Named<"conv1", Conv2d<2, 4, 3, PadMode::same>>>> mismatched;
    CHECK_THROWS_WITH(mismatched.forward(x, y), Catch::Contains("needs a down_sample shortcut"));
}

TEST_CASE("nested networks are initialised once, by the outermost, and uninitialized leaves them zero", "[sequential]") {
    using Block = resnet::ResidualBlock<4, 2, 2, true>;
    using Net = Sequential<Named<"layer", Sequential<Block, Block>>>;
    Net a;                        // seed 0
    Net b(uninitialized);
    double sum_b = 0, sum_a = 0;
    visit_parameters(b, [&](std::string_view, auto& p) {
        if constexpr (is_parameter<std::remove_cvref_t<decltype(p)>>::value)
            for (float v : p.value) sum_b += std::abs(v);
    });
    // gammas start at 1 even uninitialised, as MindSpore's; the conv weights are zero
    CHECK(sum_b == 2 * (2 + 2 + 8 + 8));
    Generator g(0);
    b.initialize(g);
    std::vector<float> va, vb;
    auto collect = [](std::vector<float>& out) {
        return [&out](std::string_view, auto& p) {
            const auto v = view_of(p);
            const auto* f = reinterpret_cast<const float*>(v.bytes.data());
            out.insert(out.end(), f, f + v.bytes.size() / sizeof(float));
        };
    };
    visit_parameters(a, collect(va));
    visit_parameters(b, collect(vb));
    for (float v : va) sum_a += std::abs(v);
    CHECK(va == vb);
    CHECK(sum_a > sum_b);
    // the two blocks draw different weights from the one generator
    const auto& w0 = a.get<"layer">().get<0>().body().get<"conv1">().get<"features">().get<0>().weight().value;
    const auto& w1 = a.get<"layer">().get<1>().body().get<"conv1">().get<"features">().get<0>().weight().value;
    const bool same_weights = w0 == w1;
    CHECK_FALSE(same_weights);
}

// ---- one shared finite-difference check over every layer ----------------------------------

namespace {

// L = sum(y * r) for a fixed random r, in double; dL/dy = r.
template <class L>
double probe_loss(L& layer, const Tensor& x, const Tensor& r) {
    Tensor y;
    layer.forward(x, y);
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += double(y.data()[i]) * r.data()[i];
    return s;
}

// Inputs spaced apart so that no +-h step crosses a ReLU kink or reorders a max-pool window.
Tensor spaced_input(const Shape& shape, Generator& g) {
    Tensor x = Tensor::from_shape(shape);
    std::vector<std::size_t> perm(x.size());
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
    for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[g.below(i)]);
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = (float(perm[i]) - float(x.size()) / 2.0f + 0.5f) * 0.05f;
    return x;
}

// Whole networks use a smaller step: more ReLU kinks and pool windows lie within reach of a step.
template <class L>
void gradient_check(const Shape& input_shape, std::size_t samples_per_tensor = 40, double h = 1e-2,
                    double tolerance = 2e-3) {
    Generator g(2024);
    L layer;
    mindsave::initialize(layer, g);
    const Tensor x = spaced_input(input_shape, g);
    Tensor y, dx;
    layer.forward(x, y);
    const Tensor r = random_tensor(Shape(y.shape().begin(), y.shape().end()), g);
    layer.backward(x, y, r, &dx);
    REQUIRE(dx.shape() == x.shape());

    // Central difference at a coordinate, unless a kink (ReLU, max-pool tie) lies within +-h there:
    // then the two one-sided slopes disagree and finite differences say nothing; such points are counted.
    const double base = probe_loss(layer, x, r);
    std::size_t checked = 0, kinked = 0;
    auto check_at = [&](float& v, double analytic, const std::string& what, auto&& loss_now) {
        const float keep = v;
        v = float(keep + h);
        const double up = loss_now();
        v = float(keep - h);
        const double down = loss_now();
        v = keep;
        const double right = (up - base) / h, left = (base - down) / h;
        if (std::abs(right - left) > tolerance * std::max({1.0, std::abs(right), std::abs(left)})) {
            ++kinked;
            return;
        }
        ++checked;
        const double numeric = (up - down) / (2 * h);
        INFO(what << ": analytic " << analytic << " numeric " << numeric);
        REQUIRE(std::abs(analytic - numeric) <= tolerance * std::max({1.0, std::abs(analytic), std::abs(numeric)}));
    };
    Tensor xp = x;
    for (std::size_t s = 0; s < samples_per_tensor; ++s) {
        const std::size_t i = g.below(x.size());
        check_at(xp.data()[i], dx.data()[i], "dx[" + std::to_string(i) + "]", [&] { return probe_loss(layer, xp, r); });
    }
    // parameter gradients come from the backward above; perturbing values leaves them alone
    mindsave::visit_parameters(layer, [&](std::string_view name, auto& p) {
        if constexpr (is_parameter<std::remove_cvref_t<decltype(p)>>::value) {
            for (std::size_t s = 0; s < samples_per_tensor; ++s) {
                const std::size_t i = g.below(p.size());
                check_at(p.value.data()[i], p.grad.data()[i], std::string(name) + "[" + std::to_string(i) + "]",
                         [&] { return probe_loss(layer, x, r); });
            }
        }
    });
    INFO("checked " << checked << ", skipped at kinks " << kinked);
    REQUIRE(checked >= 4 * kinked);  // kinks are the exception, or the check would prove little
}

}  // namespace

namespace {

// BatchNorm2d with random gamma, beta and moving statistics, fixed in training or inference mode.
template <bool Train>
struct CheckedBatchNorm : BatchNorm2d<2, 1e-5, 0.9, init::Uniform<1.5>, init::Uniform<0.5>> {
    CheckedBatchNorm() { set_train(Train); }
    void initialize(Generator& g) {
        BatchNorm2d::initialize(g);
        for (auto& v : moving_mean()) v = float(g.uniform(-1.0, 1.0));
        for (auto& v : moving_variance()) v = float(g.uniform(0.5, 2.0));
    }
};

// A network switched to training mode (batch statistics in every BatchNorm2d) when built.
template <class Net>
struct Training : Net {
    Training() { this->set_train(true); }
};

// Small residual bodies: identity shortcut, and a strided projection shortcut named as mindvision's.
using IdentityBlock = Residual<Sequential<Named<"conv1", Conv2d<2, 2, 3, PadMode::same>>, ReLU,
                                          Named<"conv2", Conv2d<2, 2, 3, PadMode::pad, 1, 1>>>>;
using ProjectionBlock = Residual<Sequential<Named<"conv1", Conv2d<2, 3, 3, PadMode::pad, 2, 1>>>,
                                 Named<"down_sample", Conv2d<2, 3, 1, PadMode::pad, 2>>>;
// A ResNet in miniature, in training mode: stem, same-padded max pool, a strided bottleneck with its
// down_sample and an identity one, BatchNorm on batch statistics throughout, neck, head. (A lone block
// of width 2 is a poor subject: batch statistics couple every value of a channel, so a step in one
// parameter moves many values across ReLU kinks, and float32 noise swamps small steps.)
using MiniResNet = Sequential<Named<"conv1", resnet::ConvNormActivation<3, 4, 3, 2>>,
                              Named<"max_pool", MaxPool2d<3, 2, PadMode::same>>,
                              Named<"layer1", Sequential<resnet::ResidualBlock<4, 2, 2, true>,
                                                         resnet::ResidualBlock<8, 2, 1, false>>>,
                              Named<"neck", GlobalAvgPooling<>>, Named<"head", Sequential<Named<"dense", Dense<8, 3>>>>>;

template <class T, class... Us>
inline constexpr bool is_one_of = (std::is_same_v<T, Us> || ...);

}  // namespace

TEMPLATE_TEST_CASE("every layer's backward matches finite differences", "[gradcheck]",
                   (Conv2d<2, 3, 3, PadMode::valid>), (Conv2d<2, 3, 3, PadMode::same, 2>),
                   (Conv2d<3, 4, 3, PadMode::pad, 1, 1, true>), (Conv2d<2, 2, 4, PadMode::same, 1, 0, true>),
                   (Conv2d<3, 4, 7, PadMode::pad, 2, 3>), (Conv2d<3, 4, 1, PadMode::pad, 2>),
                   (Conv2d<2, 3, 3, PadMode::same, 1, 0, true>),
                   (Dense<12, 5>), (Dense<12, 5, init::HeUniform<>, false>), ReLU, (MaxPool2d<2, 2>),
                   (MaxPool2d<3, 2>), (MaxPool2d<3, 2, PadMode::same>), (MaxPool2d<3, 2, PadMode::pad, 1>),
                   (AvgPool2d<2, 2>), (AvgPool2d<3, 2, PadMode::same>), (AvgPool2d<3, 2, PadMode::pad, 1>),
                   GlobalAvgPooling<>, GlobalAvgPooling<true>, CheckedBatchNorm<true>, CheckedBatchNorm<false>,
                   IdentityBlock, ProjectionBlock, Training<MiniResNet>, Flatten, (Sequential<Dense<6, 4>, ReLU, Named<"out", Dense<4, 3>>>),
                   LeNet5<>) {
    if constexpr (is_one_of<TestType, Dense<12, 5>, Dense<12, 5, init::HeUniform<>, false>>)
        gradient_check<TestType>({3, 12});
    else if constexpr (std::is_same_v<TestType, Sequential<Dense<6, 4>, ReLU, Named<"out", Dense<4, 3>>>>)
        gradient_check<TestType>({3, 6});
    else if constexpr (std::is_same_v<TestType, LeNet5<>>)
        gradient_check<TestType>({2, 1, 32, 32}, 25, 1e-3, 5e-3);
    else if constexpr (is_one_of<TestType, Conv2d<3, 4, 3, PadMode::pad, 1, 1, true>, Conv2d<3, 4, 1, PadMode::pad, 2>>)
        gradient_check<TestType>({2, 3, 6, 5});
    else if constexpr (std::is_same_v<TestType, Conv2d<2, 3, 3, PadMode::same, 1, 0, true>>)
        gradient_check<TestType>({2, 2, 9, 8});  // 72 outputs a sample: the per-sample path
    else if constexpr (std::is_same_v<TestType, Conv2d<3, 4, 7, PadMode::pad, 2, 3>>)
        gradient_check<TestType>({2, 3, 9, 8});
    else if constexpr (is_one_of<TestType, IdentityBlock, ProjectionBlock>)
        gradient_check<TestType>({2, 2, 7, 6}, 40, 1e-3, 5e-3);
    else if constexpr (std::is_same_v<TestType, Training<MiniResNet>>)
        gradient_check<TestType>({3, 3, 16, 16}, 25, 1e-3, 5e-3);
    else
        gradient_check<TestType>({2, 2, 7, 6});
}

TEST_CASE("SoftmaxCrossEntropyWithLogits matches log-softmax and its gradient matches finite differences",
          "[loss][gradcheck]") {
    Generator g(9);
    SoftmaxCrossEntropyWithLogits<> loss;
    Tensor z = random_tensor({4, 5}, g, 3.0), dz;
    Labels labels = {1, 0, 4, 2};
    const double l = loss.forward(z, labels);
    double expect = 0;
    for (std::size_t n = 0; n < 4; ++n) {
        double s = 0;
        for (std::size_t c = 0; c < 5; ++c) s += std::exp(double(z(n, c)));
        expect += std::log(s) - z(n, std::size_t(labels(n)));
    }
    CHECK(l == Approx(expect / 4).epsilon(1e-6));
    loss.backward(z, labels, dz);
    for (std::size_t i = 0; i < z.size(); ++i) {
        Tensor zp = z;
        zp.data()[i] += 1e-2f;
        const double up = loss.forward(zp, labels);
        zp.data()[i] -= 2e-2f;
        const double down = loss.forward(zp, labels);
        CHECK(dz.data()[i] == Approx((up - down) / 2e-2).margin(1e-4));
    }
    Labels bad = {1, 0, 5, 2};
    CHECK_THROWS_WITH(loss.forward(z, bad), Catch::Contains("label 5 of sample 2"));
}

TEST_CASE("Momentum applies MindSpore's ApplyMomentum update and counts global_step", "[optim]") {
    Generator g;
    Dense<2, 1, init::One, true, init::Zero> net(g);
    Momentum opt(net, 0.1f, 0.9f);
    net.weight().grad.fill(1.0f);
    net.bias().grad.fill(0.5f);
    opt.step();  // accum = g; w = 1 - 0.1 * 1
    CHECK(net.weight().value(0, 0) == Approx(0.9f));
    opt.step();  // accum = 0.9 * 1 + 1 = 1.9; w = 0.9 - 0.19
    CHECK(net.weight().value(0, 1) == Approx(0.71f));
    CHECK(net.bias().value(0) == Approx(-0.05f - 0.095f));
    CHECK(opt.global_step() == 2);
    std::vector<std::string> names;
    visit_parameters(opt, [&](std::string_view n, auto&) { names.emplace_back(n); });
    CHECK(names ==
          std::vector<std::string>{"global_step", "learning_rate", "momentum", "moments.weight", "moments.bias"});
}
