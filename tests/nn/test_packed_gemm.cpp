// nn/kernels/packed_gemm.hpp: the packed, cache-blocked product against the register-blocked gemm (bit for
// bit: both are one fma chain per entry in k order) and against a naive product in double; packed_conv.hpp.
#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/core/parallel.hpp"
#include "mindsave/core/rng.hpp"
#include "mindsave/nn/conv2d.hpp"
#include "mindsave/nn/kernels/conv.hpp"
#include "mindsave/nn/kernels/packed_conv.hpp"
#include "mindsave/nn/kernels/packed_gemm.hpp"

using namespace mindsave;

namespace {

std::vector<float> random_values(std::size_t n, Generator& g) {
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(g.uniform(-1.0, 1.0));
    return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("packed_gemm equals gemm bit for bit and a naive product in double, across the register tile, the k, row and column "
          "blocks, with transposed A and B and accumulation", "[kernels][packed_gemm]") {
    Generator g(21);
    constexpr std::size_t MR = kernels::packed_mr, NR = kernels::packed_nr, KC = kernels::packed_kc, MC = kernels::packed_mc;
    for (const std::size_t M : {std::size_t{1}, MR - 1, MR, MR + 1, 2 * MR + 3, MC + 5}) {
        for (const std::size_t N : {std::size_t{1}, NR - 1, NR, NR + 1, 3 * NR + 7, kernels::packed_nc + 3}) {
            for (const std::size_t K : {std::size_t{1}, std::size_t{17}, KC, KC + 1, 2 * KC + 30}) {
                INFO("M " << M << ", N " << N << ", K " << K);
                const auto A = random_values(M * K, g), B = random_values(K * N, g), C0 = random_values(M * N, g);
                std::vector<float> At(K * M), Bt(N * K);
                kernels::transpose(A.data(), M, K, At.data());
                kernels::transpose(B.data(), K, N, Bt.data());
                for (const bool accumulate : {false, true}) {
                    auto expect = C0;
                    kernels::gemm(M, N, K, kernels::row_major(A.data(), K), B.data(), N, expect.data(), N, accumulate);
                    auto c = C0;
                    kernels::packed_gemm(M, N, K, kernels::row_major(A.data(), K), kernels::MatrixB{B.data(), static_cast<std::ptrdiff_t>(N)},
                                         c.data(), N, accumulate);
                    REQUIRE(same_bits(c, expect));
                    c = C0;  // A stored transposed, B stored transposed
                    kernels::packed_gemm(M, N, K, kernels::transposed(At.data(), M),
                                         kernels::MatrixB{Bt.data(), 1, static_cast<std::ptrdiff_t>(K)}, c.data(), N, accumulate);
                    REQUIRE(same_bits(c, expect));
                    for (std::size_t i = 0; i < M; i += 7)
                        for (std::size_t j = 0; j < N; j += 5) {
                            double s = accumulate ? C0[i * N + j] : 0.0;
                            for (std::size_t k = 0; k < K; ++k) s += double(A[i * K + k]) * B[k * N + j];
                            REQUIRE(c[i * N + j] == Approx(s).margin(1e-4));
                        }
                }
            }
        }
    }
}

TEST_CASE("packed_gemm gives the same bits on 1 and 2 threads, split by columns or by rows, into a wider C", "[kernels][packed_gemm]") {
    Generator g(22);
    const auto saved = num_threads();
    // wide (split by column panels) and tall (split by row panels) products, C with a row stride beyond N
    for (const auto [M, N, K] : {std::array<std::size_t, 3>{64, 3136, 70}, std::array<std::size_t, 3>{700, 49, 300}}) {
        const std::size_t ldc = N + 3;
        const auto A = random_values(M * K, g), B = random_values(K * N, g), C0 = random_values(M * ldc, g);
        std::vector<float> results[2];
        for (const std::size_t threads : {1, 2}) {
            set_num_threads(threads);
            auto& c = results[threads - 1] = C0;
            kernels::packed_gemm(M, N, K, kernels::row_major(A.data(), K), kernels::MatrixB{B.data(), static_cast<std::ptrdiff_t>(N)},
                                 c.data(), ldc, true);
        }
        CHECK(same_bits(results[0], results[1]));
        for (std::size_t i = 0; i < M; ++i)  // the columns past N are left alone
            for (std::size_t j = N; j < ldc; ++j) REQUIRE(results[1][i * ldc + j] == C0[i * ldc + j]);
    }
    set_num_threads(saved);
}

TEST_CASE("packed_gemm with K = 0 zeroes C, or leaves it when accumulating", "[kernels][packed_gemm]") {
    std::vector<float> c(6, 5.0f);
    kernels::packed_gemm(2, 3, 0, kernels::row_major(nullptr, 0), kernels::MatrixB{nullptr, 3}, c.data(), 3, true);
    CHECK(c == std::vector<float>(6, 5.0f));
    kernels::packed_gemm(2, 3, 0, kernels::row_major(nullptr, 0), kernels::MatrixB{nullptr, 3}, c.data(), 3, false);
    CHECK(c == std::vector<float>(6, 0.0f));
}

TEST_CASE("Im2colB packs exactly the columns im2col writes: packed_gemm over a sample's input equals gemm over its "
          "column matrix bit for bit, for 1x1, 3x3 and 7x7 kernels, strides 1 and 2, with padding", "[kernels][packed_gemm]") {
    Generator g(23);
    struct Case {
        std::size_t channels, height, width, kernel, stride, pad, out;
    };
    for (const Case c : {Case{5, 9, 11, 3, 1, 1, 7}, Case{3, 30, 30, 7, 2, 3, 33}, Case{16, 14, 14, 1, 2, 0, 40},
                         Case{4, 8, 8, 3, 2, 1, 15}, Case{2, 5, 40, 3, 1, 0, 3}}) {
        const std::size_t OH = (c.height + 2 * c.pad - c.kernel) / c.stride + 1, OW = (c.width + 2 * c.pad - c.kernel) / c.stride + 1;
        const kernels::ConvGeometry geo{c.channels, c.height, c.width, c.kernel, c.stride, c.pad, c.pad, OH, OW};
        INFO("C " << c.channels << ", " << c.height << "x" << c.width << ", K " << c.kernel << ", stride " << c.stride);
        const std::size_t R = geo.col_rows(), P = geo.col_cols();
        const auto x = random_values(c.channels * c.height * c.width, g), w = random_values(c.out * R, g);
        std::vector<float> col(R * P), expect(c.out * P), got(c.out * P);
        kernels::im2col(x.data(), geo, col.data());
        kernels::gemm(c.out, P, R, kernels::row_major(w.data(), R), col.data(), P, expect.data(), P, false);
        kernels::packed_gemm(c.out, P, R, kernels::row_major(w.data(), R), kernels::Im2colB{x.data(), &geo}, got.data(), P, false);
        REQUIRE(same_bits(got, expect));
    }
}

TEST_CASE("Conv2d gives a lone sample (its product split over the threads, columns packed from the input) the same "
          "bits it gets in a batch (a thread per sample, im2col)", "[kernels][packed_gemm][conv]") {
    const auto saved = num_threads();
    set_num_threads(2);
    Generator g(24);
    Conv2d<8, 24, 3, PadMode::pad, 1, 1> conv3(g);
    Conv2d<8, 40, 1, PadMode::pad, 2, 0> conv1(g);
    Tensor batch = Tensor::from_shape({2, 8, 20, 20});
    for (auto& v : batch) v = static_cast<float>(g.uniform(-1.0, 1.0));
    Tensor lone = Tensor::from_shape({1, 8, 20, 20});
    std::copy(batch.data() + 8 * 400, batch.data() + 16 * 400, lone.data());  // the second sample alone
    const auto check = [&](auto& conv) {
        Tensor yb, yl;
        conv.forward(batch, yb);
        conv.forward(lone, yl);
        const std::size_t per = yl.size();
        REQUIRE(std::memcmp(yl.data(), yb.data() + per, per * sizeof(float)) == 0);
    };
    check(conv3);
    check(conv1);
    set_num_threads(saved);
}
