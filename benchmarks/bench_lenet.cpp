// LeNet5 training step (batch 32, Momentum), inference (batch 256) and one Fashion-MNIST epoch
// through Model::train (data pipeline included), each with 1 and 2 library threads.
// Items are images, so Google Benchmark reports images/s beside the time. The names
// (BM_LeNet5TrainStep/32/<threads>, BM_LeNet5Inference/256/<threads>, BM_LeNet5Epoch/<threads>)
// are parsed by the comparison script: keep them.
#include <filesystem>

#include <benchmark/benchmark.h>

#include "mindsave/core/parallel.hpp"
#include "mindsave/data/mnist.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/mindsave.hpp"

using namespace mindsave;
namespace vision = mindsave::data::vision;

namespace {

Batch random_batch(std::size_t n, std::uint64_t seed) {
    Generator g(seed);
    Batch b;
    b.images = Tensor::from_shape({n, 1, 32, 32});
    for (auto& v : b.images) v = static_cast<float>(g.normal());
    b.labels = Labels::from_shape({n});
    for (auto& l : b.labels) l = static_cast<std::int32_t>(g.below(10));
    return b;
}

// Sets the library's thread count for one benchmark and restores it afterwards.
struct Threads {
    std::size_t saved = num_threads();
    explicit Threads(std::int64_t n) { set_num_threads(static_cast<std::size_t>(n)); }
    ~Threads() { set_num_threads(saved); }
};

// LeNet5 forward + backward + Momentum update, the step Model::train runs. Args: batch, threads.
void BM_LeNet5TrainStep(benchmark::State& state) {
    const Threads threads(state.range(1));
    const auto batch_size = static_cast<std::size_t>(state.range(0));
    LeNet5<> net(1);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    const Batch batch = random_batch(batch_size, 2);
    for (auto _ : state) benchmark::DoNotOptimize(model.train_step(batch));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}
BENCHMARK(BM_LeNet5TrainStep)->Args({32, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LeNet5TrainStep)->Args({32, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

// Args: batch, threads.
void BM_LeNet5Inference(benchmark::State& state) {
    const Threads threads(state.range(1));
    const auto batch_size = static_cast<std::size_t>(state.range(0));
    LeNet5<> net(1);
    const Batch batch = random_batch(batch_size, 3);
    Tensor logits;
    for (auto _ : state) {
        net.forward(batch.images, logits);
        benchmark::DoNotOptimize(logits.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}
BENCHMARK(BM_LeNet5Inference)->Args({256, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LeNet5Inference)->Args({256, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

// One Fashion-MNIST training epoch as the quick-start runs it (examples/lenet_demo.cpp): source in
// random order, Resize 32, Rescale 1/255, normalise, HWC2CHW, shuffle 10000, batch 32 drop_remainder;
// 1875 steps through Model::train. Reading the idx files is not timed. Arg: threads.
void BM_LeNet5Epoch(benchmark::State& state) {
    const std::filesystem::path dir = "/usr/share/datasets/fashion-mnist";
    if (!std::filesystem::exists(dir)) {
        state.SkipWithError("Fashion-MNIST not found in /usr/share/datasets/fashion-mnist "
                            "(apt-get install dataset-fashion-mnist)");
        return;
    }
    const Threads threads(state.range(0));
    const data::MnistDataset source(dir, "train", /*shuffle=*/true, 1);
    auto train = source
                     .map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0},
                          vision::Rescale{1.0 / 0.3081, -1.0 * 0.1307 / 0.3081}, vision::HWC2CHW{})
                     .shuffle(10000, 1)
                     .batch(32, true);
    LeNet5<> net(1);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    std::size_t images = 0;
    for (auto _ : state) {
        model.train(1, train);
        images += train.get_dataset_size() * train.batch_size();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(images));
}
// No Iterations(1): it would add "/iterations:1" to the names. An epoch outlasts the 0.5 s minimum,
// so one iteration is what runs anyway.
BENCHMARK(BM_LeNet5Epoch)->Arg(1)->Unit(benchmark::kSecond);
BENCHMARK(BM_LeNet5Epoch)->Arg(2)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
