// LeNet5 training step (batch 32, Momentum) and inference (batch 256) on random inputs.
// Items are images, so Google Benchmark reports images/s beside the time per step.
#include <benchmark/benchmark.h>

#include "mindsave/mindsave.hpp"

using namespace mindsave;

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

// LeNet5 forward + backward + Momentum update, the step Model::train runs.
void BM_LeNet5TrainStep(benchmark::State& state) {
    const auto batch_size = static_cast<std::size_t>(state.range(0));
    LeNet5<> net(1);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    const Batch batch = random_batch(batch_size, 2);
    for (auto _ : state) benchmark::DoNotOptimize(model.train_step(batch));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}
BENCHMARK(BM_LeNet5TrainStep)->Arg(32)->Unit(benchmark::kMillisecond);

void BM_LeNet5Inference(benchmark::State& state) {
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
BENCHMARK(BM_LeNet5Inference)->Arg(256)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
