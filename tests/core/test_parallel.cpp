// core/parallel.hpp and the layers that split work across threads: the split is static, a thread
// count gives bit-identical results run after run, 2 threads agree with 1 (bit for bit where only
// independent rows or samples are split, within float tolerance where partial gradients are summed),
// both agree with naive double-precision references, and a 2-thread training step allocates nothing.
#include <array>
#include <atomic>
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/core/parallel.hpp"
#include "mindsave/mindsave.hpp"
#include "support/allocation_counter.hpp"
#include "support/naive_conv.hpp"

using namespace mindsave;

namespace {

// Sets the library's thread count for a scope.
struct ThreadCount {
    std::size_t saved = num_threads();
    explicit ThreadCount(std::size_t n) { set_num_threads(n); }
    ~ThreadCount() { set_num_threads(saved); }
};

Tensor random_tensor(const Shape& shape, Generator& g) {
    Tensor t = Tensor::from_shape(shape);
    for (auto& v : t) v = static_cast<float>(g.uniform(-1.0, 1.0));
    return t;
}

bool bit_equal(const float* a, const float* b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        if (std::memcmp(a + i, b + i, sizeof(float)) != 0) return false;
    return true;
}
template <class A, class B>
bool bit_equal(const A& a, const B& b) {
    return a.size() == b.size() && bit_equal(a.data(), b.data(), a.size());
}

template <class A>
void require_close(const A& got, const std::vector<double>& expect, double margin) {
    REQUIRE(got.size() == expect.size());
    for (std::size_t i = 0; i < expect.size(); ++i) REQUIRE(got.data()[i] == Approx(expect[i]).margin(margin));
}

// Forward, then backward with a random output gradient, on `threads` threads.
template <class L>
struct Run {
    Tensor y, dx;
    std::vector<Tensor> grads;
};
template <class L>
Run<L> run_layer(std::size_t threads, const Tensor& x, const Tensor& dy_seed, std::uint64_t seed, bool with_dx = true) {
    const ThreadCount tc(threads);
    Generator g(seed);
    L layer;
    mindsave::initialize(layer, g);
    Run<L> r;
    layer.forward(x, r.y);
    Tensor dy = Tensor::from_shape(Shape(r.y.shape().begin(), r.y.shape().end()));
    for (std::size_t i = 0; i < dy.size(); ++i) dy.data()[i] = dy_seed.data()[i % dy_seed.size()];
    layer.backward(x, r.y, dy, with_dx ? &r.dx : nullptr);
    mindsave::visit_parameters(layer, [&](std::string_view, auto& p) {
        if constexpr (is_parameter<std::remove_cvref_t<decltype(p)>>::value) r.grads.emplace_back(p.grad);
    });
    return r;
}

template <class Conv>
void check_conv_threads(std::size_t N, std::size_t H, std::size_t W, std::size_t pt, std::size_t pl) {
    Generator g(77);
    const Tensor x = random_tensor({N, Conv::in_channels, H, W}, g);
    const Tensor dy_seed = random_tensor({4096}, g);
    const auto one = run_layer<Conv>(1, x, dy_seed, 5), two = run_layer<Conv>(2, x, dy_seed, 5);
    const auto again = run_layer<Conv>(2, x, dy_seed, 5);
    // samples (or rows) are split, never a sum: forward and input gradient do not see the thread count
    CHECK(bit_equal(one.y, two.y));
    CHECK(bit_equal(one.dx, two.dx));
    // the weight gradient sums per-thread parts: the same for a given thread count, close across counts
    CHECK(bit_equal(two.grads[0], again.grads[0]));
    for (std::size_t i = 0; i < one.grads.size(); ++i)
        for (std::size_t k = 0; k < one.grads[i].size(); ++k)
            REQUIRE(two.grads[i].data()[k] == Approx(one.grads[i].data()[k]).margin(1e-4).epsilon(1e-5));

    Generator wg(5);
    Conv conv;
    mindsave::initialize(conv, wg);
    const std::size_t OH = Conv::output_size(H), OW = Conv::output_size(W);
    const testing::NaiveConv nc{N, Conv::in_channels, H, W, Conv::out_channels, Conv::kernel_size, Conv::stride, pt, pl, OH, OW};
    const auto& w = conv.weight().value;
    std::vector<double> y(N * Conv::out_channels * OH * OW, 0.0), dx(x.size(), 0.0), dw(w.size(), 0.0);
    std::vector<float> dyv(y.size());  // the output gradient run_layer used
    for (std::size_t i = 0; i < dyv.size(); ++i) dyv[i] = dy_seed.data()[i % dy_seed.size()];
    nc.each([&](std::size_t xi, std::size_t wi, std::size_t yi) {
        y[yi] += double(x.data()[xi]) * w.data()[wi];
        dx[xi] += double(dyv[yi]) * w.data()[wi];
        dw[wi] += double(dyv[yi]) * x.data()[xi];
    });
    if constexpr (Conv::has_bias)
        for (std::size_t i = 0; i < y.size(); ++i) y[i] += conv.bias().value((i / (OH * OW)) % Conv::out_channels);
    require_close(two.y, y, 1e-4);
    require_close(two.dx, dx, 1e-4);
    require_close(two.grads[0], dw, 1e-3);

    // without an input gradient (a network's first layer) the weight gradient may take a direct path
    const auto first_one = run_layer<Conv>(1, x, dy_seed, 5, false), first_two = run_layer<Conv>(2, x, dy_seed, 5, false);
    const auto first_again = run_layer<Conv>(2, x, dy_seed, 5, false);
    CHECK(bit_equal(first_two.grads[0], first_again.grads[0]));
    require_close(first_one.grads[0], dw, 1e-3);
    require_close(first_two.grads[0], dw, 1e-3);
    for (std::size_t i = 1; i < one.grads.size(); ++i) CHECK(bit_equal(first_one.grads[i], one.grads[i]));  // bias
}

}  // namespace

TEST_CASE("parallel_for splits 0..n statically into contiguous parts, each run once, thread 0 first part",
          "[parallel]") {
    const ThreadCount tc(2);
    CHECK(num_threads() == 2);
    for (std::size_t n : {1, 2, 3, 7, 1000}) {
        std::vector<std::atomic<int>> hits(n);
        std::vector<Range> seen(2);
        parallel_for(n, [&](std::size_t b, std::size_t e, std::size_t t) {
            seen[t] = {b, e};
            for (std::size_t i = b; i < e; ++i) ++hits[i];
        });
        for (auto& h : hits) REQUIRE(h.load() == 1);
        CHECK(seen[0].begin == 0);
        CHECK(parallel_parts(n) == std::min<std::size_t>(n, 2));
        if (n >= 2) CHECK(seen[0].end == n / 2);  // the split depends on n and the thread count alone
    }
    // grain and max_parts cap the parts; a nested call runs on the calling thread
    CHECK(parallel_parts(100, 64) == 1);
    CHECK(parallel_parts(100, 1, 1) == 1);
    std::atomic<int> inner{0};
    parallel_for(4, [&](std::size_t, std::size_t, std::size_t) {
        parallel_for(10, [&](std::size_t b, std::size_t e, std::size_t) { inner += int(e - b); });
    });
    CHECK(inner.load() == 20);
    set_num_threads(0);  // clamped to one
    CHECK(num_threads() == 1);
}

TEST_CASE("MINDSAVE_NUM_THREADS must be a whole number of threads: anything else is a ConfigError naming it") {
    CHECK(detail::threads_from_env("2") == 2);
    CHECK(detail::threads_from_env("1024") == 1024);
    for (const char* bad : {"", "0", "two", "2x", "-1", " 2", "1025", "99999999999999999999"}) {
        INFO("MINDSAVE_NUM_THREADS='" << bad << "'");
        CHECK_THROWS_MATCHES(detail::threads_from_env(bad), ConfigError,
                             Catch::Message("MINDSAVE_NUM_THREADS='" + std::string(bad) +
                                            "' is not a thread count: set it to a whole number from 1 to 1024 "
                                            "(or unset it to use every core)"));
    }
}

TEST_CASE("Conv2d on 2 threads equals 1 thread and direct convolution: forward, input and weight gradients",
          "[parallel][conv]") {
    check_conv_threads<Conv2d<1, 6, 5, PadMode::valid>>(5, 32, 32, 0, 0);  // LeNet's conv1: 784 columns
    check_conv_threads<Conv2d<6, 16, 5, PadMode::valid>>(5, 14, 14, 0, 0); // conv2: 100 columns, padded to 112
    check_conv_threads<Conv2d<3, 4, 3, PadMode::pad, 2, 1, true>>(3, 17, 18, 1, 1);  // strided, bias
    check_conv_threads<Conv2d<3, 5, 3, PadMode::same>>(4, 6, 7, 1, 1);  // 42 outputs: the batched path
    check_conv_threads<Conv2d<1, 6, 5, PadMode::valid>>(3, 20, 20, 0, 0);  // rows of exactly 16
    check_conv_threads<Conv2d<1, 6, 5, PadMode::valid>>(3, 21, 37, 0, 0);  // rows of 33: three vectors
    check_conv_threads<Conv2d<2, 5, 3, PadMode::valid, 1, 0, true>>(3, 12, 20, 0, 0);  // bias, 5 channels
    check_conv_threads<Conv2d<3, 8, 3, PadMode::valid, 1, 0, true>>(3, 11, 13, 0, 0);  // channels as vectors, padded
    check_conv_threads<Conv2d<4, 24, 3, PadMode::valid>>(3, 10, 30, 0, 0);  // a vector of channels and a part
}

TEST_CASE("Dense, ReLU and MaxPool2d on 2 threads are bit-identical to 1 thread and match naive formulas",
          "[parallel][dense][pool]") {
    Generator g(78);
    const Tensor x = random_tensor({33, 400}, g), dy_seed = random_tensor({4096}, g);
    using D = Dense<400, 120>;
    const auto one = run_layer<D>(1, x, dy_seed, 9), two = run_layer<D>(2, x, dy_seed, 9);
    CHECK(bit_equal(one.y, two.y));
    CHECK(bit_equal(one.dx, two.dx));
    CHECK(bit_equal(one.grads[0], two.grads[0]));
    CHECK(bit_equal(one.grads[1], two.grads[1]));
    Generator wg(9);
    D dense;
    mindsave::initialize(dense, wg);
    std::vector<double> y(33 * 120), dw(120 * 400, 0.0), dx(33 * 400, 0.0);
    for (std::size_t n = 0; n < 33; ++n)
        for (std::size_t o = 0; o < 120; ++o) {
            const double d = dy_seed.data()[(n * 120 + o) % dy_seed.size()];
            double s = dense.bias().value(o);
            for (std::size_t i = 0; i < 400; ++i) {
                s += double(x(n, i)) * dense.weight().value(o, i);
                dw[o * 400 + i] += d * x(n, i);
                dx[n * 400 + i] += d * dense.weight().value(o, i);
            }
            y[n * 120 + o] = s;
        }
    require_close(two.y, y, 1e-4);
    require_close(two.dx, dx, 1e-4);
    require_close(two.grads[0], dw, 1e-4);

    const Tensor a = random_tensor({9, 6, 28, 28}, g);
    const auto r1 = run_layer<ReLU>(1, a, dy_seed, 1), r2 = run_layer<ReLU>(2, a, dy_seed, 1);
    CHECK(bit_equal(r1.y, r2.y));
    CHECK(bit_equal(r1.dx, r2.dx));
    for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(r2.y.data()[i] == std::max(a.data()[i], 0.0f));

    const auto p1 = run_layer<MaxPool2d<2, 2>>(1, a, dy_seed, 1), p2 = run_layer<MaxPool2d<2, 2>>(2, a, dy_seed, 1);
    CHECK(bit_equal(p1.y, p2.y));
    CHECK(bit_equal(p1.dx, p2.dx));
    for (std::size_t p = 0; p < 9 * 6; ++p)
        for (std::size_t oh = 0; oh < 14; ++oh)
            for (std::size_t ow = 0; ow < 14; ++ow) {
                const float* w = a.data() + p * 784 + 2 * oh * 28 + 2 * ow;
                const float m = std::max({w[0], w[1], w[28], w[29]});
                REQUIRE(p2.y.data()[p * 196 + oh * 14 + ow] == m);
                // the gradient lands on the first maximum in scan order
                const std::size_t at = w[0] == m ? 0 : w[1] == m ? 1 : w[28] == m ? 28 : 29;
                REQUIRE(p2.dx.data()[p * 784 + 2 * oh * 28 + 2 * ow + at] ==
                        dy_seed.data()[(p * 196 + oh * 14 + ow) % dy_seed.size()]);
            }
}

namespace {
// LeNet5 (seeded), its loss and Momentum, and a fixed random batch of 32 for train_step.
struct LeNetTraining {
    LeNet5<> net;
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt{net, 0.01f, 0.9f};
    Model<LeNet5<>, SoftmaxCrossEntropyWithLogits<>, Momentum> model{net, loss, opt};
    Batch batch;

    LeNetTraining(std::uint64_t net_seed, std::uint64_t batch_seed) : net(net_seed) {
        Generator g(batch_seed);
        batch = {random_tensor({32, 1, 32, 32}, g), Labels::from_shape({32})};
        for (auto& l : batch.labels) l = static_cast<std::int32_t>(g.below(10));
    }
};

// Trains LeNet5 for `steps` steps on fixed random batches with `threads` threads; returns every parameter.
std::vector<float> train_lenet(std::size_t threads, std::size_t steps) {
    const ThreadCount tc(threads);
    LeNetTraining t(7, 8);
    for (std::size_t s = 0; s < steps; ++s) t.model.train_step(t.batch);
    std::vector<float> out;
    visit_parameters(t.net, [&](std::string_view, auto& p) { out.insert(out.end(), p.value.begin(), p.value.end()); });
    return out;
}
}  // namespace

TEST_CASE("LeNet5: the same seed and thread count give bit-identical weights after 10 steps, and 1 and 2 threads agree",
          "[parallel][model]") {
    const auto a = train_lenet(2, 10), b = train_lenet(2, 10), c = train_lenet(1, 10), d = train_lenet(1, 10);
    CHECK(a == b);
    CHECK(c == d);
    REQUIRE(a.size() == c.size());
    for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == Approx(c[i]).margin(1e-4));
}

TEST_CASE("after the first step, a LeNet5 training step on 2 threads allocates nothing", "[parallel][performance]") {
    const ThreadCount tc(2);
    LeNetTraining t(3, 4);
    t.model.train_step(t.batch);
    Tensor logits;
    t.net.forward(t.batch.images, logits);
    const std::size_t before = testing::allocation_count();
    for (int s = 0; s < 3; ++s) t.model.train_step(t.batch);
    t.net.forward(t.batch.images, logits);
    CHECK(testing::allocation_count() - before == 0);
}

TEST_CASE("Sequential runs LeNet5's conv..flatten chain in one region, bit-identical to layer-by-layer forward",
          "[parallel][sequential]") {
    using Net = LeNet5<>;
    STATIC_REQUIRE(SampleWise<Conv2d<1, 6, 5, PadMode::valid>>);
    STATIC_REQUIRE(SampleWise<Named<"conv1", Conv2d<1, 6, 5, PadMode::valid>>>);
    STATIC_REQUIRE(SampleWise<ReLU>);
    STATIC_REQUIRE(SampleWise<MaxPool2d<2, 2>>);
    STATIC_REQUIRE(SampleWise<Flatten>);
    STATIC_REQUIRE(!SampleWise<Dense<400, 120>>);
    for (std::size_t threads : {1, 2}) {
        const ThreadCount tc(threads);
        Net net(5);
        Generator g(6);
        for (std::size_t batch : {1, 3, 32}) {
            const Tensor x = random_tensor({batch, 1, 32, 32}, g);
            Tensor fused;
            net.forward(x, fused);
            // each layer alone, through its own forward
            std::array<Tensor, 12> acts;
            detail::for_each_index<12>([&](auto i) {
                net.get<i.value>().forward(i.value == 0 ? x : acts[i.value == 0 ? 0 : i.value - 1], acts[i.value]);
            });
            CHECK(bit_equal(fused, acts[11]));
        }
    }
}

TEST_CASE("Sequential's shared backward region for LeNet5's flatten..conv1 is bit-identical to layer-by-layer backward",
          "[parallel][sequential]") {
    using Net = LeNet5<>;
    STATIC_REQUIRE(SampleWiseBackward<Named<"conv2", Conv2d<6, 16, 5, PadMode::valid>>>);
    STATIC_REQUIRE(!SampleWiseBackward<Dense<400, 120>>);
    for (std::size_t threads : {1, 2}) {
        const ThreadCount tc(threads);
        Net net(7);
        Generator g(8);
        for (std::size_t batch : {1, 5, 32}) {
            const Tensor x = random_tensor({batch, 1, 32, 32}, g);
            Tensor y, dx_fused;
            net.forward(x, y);
            const Tensor dy = random_tensor(Shape(y.shape().begin(), y.shape().end()), g);
            net.backward(x, y, dy, &dx_fused);
            std::vector<float> fused_grads;
            visit_parameters(net, [&](std::string_view, auto& p) {
                fused_grads.insert(fused_grads.end(), p.grad.begin(), p.grad.end());
            });
            // the same forward, then each layer's own backward
            std::array<Tensor, 12> acts, grads;
            detail::for_each_index<12>([&](auto i) {
                net.get<i.value>().forward(i.value == 0 ? x : acts[i.value == 0 ? 0 : i.value - 1], acts[i.value]);
            });
            Tensor dx_alone;
            detail::for_each_index_reversed<12>([&](auto i) {
                constexpr std::size_t k = i.value;
                net.get<k>().backward(k == 0 ? x : acts[k == 0 ? 0 : k - 1], acts[k], k == 11 ? dy : grads[k],
                                      k == 0 ? &dx_alone : &grads[k == 0 ? 0 : k - 1]);
            });
            std::vector<float> alone_grads;
            visit_parameters(net, [&](std::string_view, auto& p) {
                alone_grads.insert(alone_grads.end(), p.grad.begin(), p.grad.end());
            });
            CHECK(fused_grads == alone_grads);
            CHECK(bit_equal(dx_fused, dx_alone));
        }
    }
}
