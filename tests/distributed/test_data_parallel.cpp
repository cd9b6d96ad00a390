// Data parallel over MPI (run by CTest under mpirun -np 2 and -np 4): LeNet5 trained on N ranks with batch b
// each equals one process trained with batch N * b, every rank holds bit-identical weights, parameters start
// from rank 0's, and the fused gradient buckets sum and average exactly.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/data/mnist.hpp"
#include "mindsave/distributed/mpi.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/mindsave.hpp"
#include "support/parameter_values.hpp"
#include "support/shared_data.hpp"

using namespace mindsave;
namespace vision = mindsave::data::vision;

namespace {

mpi::Communicator& world() { return mpi::init(); }

std::uint32_t crc_of(const std::vector<float>& v) { return io::crc32(std::as_bytes(std::span(v))); }

auto mnist(const data::MnistDataset& source) {
    return source.map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255, 0.0}, vision::Rescale{1 / 0.3081, -0.1307 / 0.3081},
                      vision::HWC2CHW{});
}

}  // namespace

TEST_CASE("LeNet5 on N ranks with batch b equals one process with batch N*b, and every rank holds the same weights",
          "[distributed]") {
    auto& comm = world();
    const auto n = static_cast<std::size_t>(comm.size());
    const std::size_t b = 8, steps = 20;
    const data::MnistDataset source(testing::require_shared("data/mnist"), "test");
    for (const bool shuffle : {false, true}) {
        INFO("shuffle " << shuffle << ", " << n << " ranks");
        // Ranks start from different weights: set_data_parallel broadcasts rank 0's.
        LeNet5<> net(100 + static_cast<std::uint64_t>(comm.rank()));
        SoftmaxCrossEntropyWithLogits<> loss;
        Momentum opt(net, {.learning_rate = 0.01f, .momentum = 0.9f});
        Model model(net, loss, opt);
        model.set_data_parallel(comm);
        auto shard = mnist(source).shard(n, static_cast<std::size_t>(comm.rank()), shuffle, 7).batch(b, true).take(steps);
        model.train(1, shard);

        // The same training in one process: the whole order (the one shard of one), batches of n * b.
        LeNet5<> alone(100);
        SoftmaxCrossEntropyWithLogits<> loss1;
        Momentum opt1(alone, {.learning_rate = 0.01f, .momentum = 0.9f});
        Model single(alone, loss1, opt1);
        auto whole = mnist(source).shard(1, 0, shuffle, 7).batch(n * b, true).take(steps);
        single.train(1, whole);

        const auto ours = testing::parameter_values(net), reference = testing::parameter_values(alone);
        REQUIRE(ours.size() == reference.size());
        double worst = 0;
        for (std::size_t i = 0; i < ours.size(); ++i)
            worst = std::max(worst, std::abs(double(ours[i]) - double(reference[i])) / std::max(1e-3, std::abs(double(reference[i]))));
        CHECK(worst <= 1e-5);

        // The control: the same shard without data parallel ends elsewhere (the comparison can fail).
        LeNet5<> lone(100);
        SoftmaxCrossEntropyWithLogits<> loss2;
        Momentum opt2(lone, {.learning_rate = 0.01f, .momentum = 0.9f});
        Model unreduced(lone, loss2, opt2);
        auto shard_again = mnist(source).shard(n, static_cast<std::size_t>(comm.rank()), shuffle, 7).batch(b, true).take(steps);
        unreduced.train(1, shard_again);
        const auto apart = testing::parameter_values(lone);
        double control = 0;
        for (std::size_t i = 0; i < apart.size(); ++i)
            control = std::max(control, std::abs(double(apart[i]) - double(reference[i])) / std::max(1e-3, std::abs(double(reference[i]))));
        CHECK(control > 1e-3);

        const std::uint32_t mine = crc_of(ours);
        std::vector<std::uint32_t> all(n);
        comm.allgather(std::as_bytes(std::span(&mine, 1)), std::as_writable_bytes(std::span(all)));
        for (const auto c : all) CHECK(c == mine);
    }
}

TEST_CASE("Gradients are summed in fused buckets and averaged by the group size", "[distributed]") {
    auto& comm = world();
    LeNet5<> net(1);
    const int r = comm.rank(), n = comm.size();
    // rank r's gradient: r + 1 everywhere; the mean over ranks is (n + 1) / 2.
    visit_parameters(net, [&](std::string_view, auto& p) {
        if constexpr (requires { p.grad; }) p.grad.fill(static_cast<float>(r + 1));
    });
    GradReducer<mpi::Communicator> small(comm, net, {.bucket_bytes = 4096});
    CHECK(small.gradient_tensors() == 8);
    CHECK(small.gradient_buckets() > 2);  // conv2 and the dense weights each pass 4 KiB alone; the rest share
    small.reduce();
    bool all_mean = true;
    visit_parameters(net, [&](std::string_view, auto& p) {
        if constexpr (requires { p.grad; })
            for (float g : p.grad) all_mean = all_mean && g == static_cast<float>(n + 1) / 2.f;
    });
    CHECK(all_mean);
    GradReducer<mpi::Communicator> sum(comm, net, {.gradients_mean = false});
    CHECK(sum.gradient_buckets() == 1);
    sum.reduce();
    bool all_sum = true;
    visit_parameters(net, [&](std::string_view, auto& p) {
        if constexpr (requires { p.grad; })
            for (float g : p.grad) all_sum = all_sum && g == static_cast<float>(n) * static_cast<float>(n + 1) / 2.f;
    });
    CHECK(all_sum);
}

TEST_CASE("get_rank and get_group_size are MPI's after init; strings gather in rank order", "[distributed]") {
    auto& comm = world();
    CHECK(get_rank() == comm.rank());
    CHECK(get_group_size() == comm.size());
    const auto names = allgather_strings(comm, std::string(static_cast<std::size_t>(comm.rank()) + 1, 'x'));
    REQUIRE(names.size() == static_cast<std::size_t>(comm.size()));
    for (std::size_t i = 0; i < names.size(); ++i) CHECK(names[i] == std::string(i + 1, 'x'));
}
