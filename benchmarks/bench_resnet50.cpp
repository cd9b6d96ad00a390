// ResNet50 compute at 224 x 224: inference at batch 1 and 8, a training step (Momentum) at batch 8, each on
// 1 and 2 library threads; and the product alone on ResNet50's convolution shapes, packed_gemm beside
// OpenBLAS's cblas_sgemm (Debian libopenblas0-pthread, loaded at run time) on the same operands.
// compare.py parses the names (BM_ResNet50Inference/<batch>/<threads>, BM_ResNet50TrainStep/8/<threads>,
// BM_Sgemm/<shape>/<threads>, BM_OpenBlasSgemm/<shape>/<threads>) and the GFLOPs counters: keep them.
#include <dlfcn.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "mindsave/core/parallel.hpp"
#include "mindsave/mindsave.hpp"
#include "mindsave/models/resnet50.hpp"
#include "mindsave/nn/kernels/packed_gemm.hpp"

using namespace mindsave;

namespace {

struct Threads {
    std::size_t saved = num_threads();
    explicit Threads(std::int64_t n) { set_num_threads(static_cast<std::size_t>(n)); }
    ~Threads() { set_num_threads(saved); }
};

// A ResNet50's forward at 224 x 224: 4.09 G multiply-adds per image (its convolutions and dense layer).
constexpr double resnet50_flop_per_image = 2 * 4.0895e9;

Tensor random_images(std::size_t n, std::uint64_t seed) {
    Generator g(seed);
    Tensor x = Tensor::from_shape({n, 3, 224, 224});
    for (auto& v : x) v = static_cast<float>(g.normal());
    return x;
}

// Args: batch, threads. Inference (BatchNorm on its moving statistics, fused into the convolutions), as
// Model::predict runs it.
void BM_ResNet50Inference(benchmark::State& state) {
    const Threads threads(state.range(1));
    const auto batch = static_cast<std::size_t>(state.range(0));
    static ResNet50<1000> net{1};
    net.set_train(false);
    const Tensor x = random_images(batch, 2);
    Tensor logits;
    infer(net, x, logits);  // buffers sized, pages touched
    for (auto _ : state) {
        infer(net, x, logits);
        benchmark::DoNotOptimize(logits.data());
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
    state.counters["GFLOPs"] = benchmark::Counter(resnet50_flop_per_image * static_cast<double>(batch) * 1e-9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ResNet50Inference)->Args({1, 1})->Args({8, 1})->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_ResNet50Inference)->Args({1, 2})->Args({8, 2})->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

// Forward, softmax cross-entropy, backward and Momentum's update, BatchNorm in training mode. Args: batch, threads.
void BM_ResNet50TrainStep(benchmark::State& state) {
    const Threads threads(state.range(1));
    const auto batch_size = static_cast<std::size_t>(state.range(0));
    static ResNet50<1000> net{1};
    net.set_train(true);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.001f, 0.9f);
    Model model(net, loss, opt);
    Batch batch;
    batch.images = random_images(batch_size, 3);
    batch.labels = Labels::from_shape({batch_size});
    for (std::size_t i = 0; i < batch_size; ++i) batch.labels(i) = static_cast<std::int32_t>(i * 37 % 1000);
    model.train_step(batch);
    for (auto _ : state) benchmark::DoNotOptimize(model.train_step(batch));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch_size));
}
BENCHMARK(BM_ResNet50TrainStep)->Args({8, 1})->Unit(benchmark::kMillisecond)->MinTime(4.0);
BENCHMARK(BM_ResNet50TrainStep)->Args({8, 2})->Unit(benchmark::kMillisecond)->MinTime(4.0)->UseRealTime();

// ResNet50's convolutions at 224 x 224 as one sample's product: C[Out, P] = W[Out, In*K*K] * columns[., P].
struct GemmShape {
    std::size_t M, K, N;
    const char* layer;
};
constexpr std::array<GemmShape, 10> gemm_shapes{{
    {64, 147, 12544, "conv1 7x7/2"},
    {64, 576, 3136, "layer1 3x3"},
    {64, 256, 3136, "layer1 1x1 256->64"},
    {256, 64, 3136, "layer1 1x1 64->256"},
    {128, 1152, 784, "layer2 3x3"},
    {512, 128, 784, "layer2 1x1 128->512"},
    {256, 2304, 196, "layer3 3x3"},
    {1024, 256, 196, "layer3 1x1 256->1024"},
    {512, 4608, 49, "layer4 3x3"},
    {2048, 512, 49, "layer4 1x1 512->2048"},
}};

struct Operands {
    std::vector<float> a, b, c;
    explicit Operands(const GemmShape& s) : a(s.M * s.K), b(s.K * s.N), c(s.M * s.N) {
        Generator g(7);
        for (auto& v : a) v = static_cast<float>(g.uniform(-1, 1));
        for (auto& v : b) v = static_cast<float>(g.uniform(-1, 1));
    }
};

void label(benchmark::State& state, const GemmShape& s) {
    state.SetLabel(std::string(s.layer) + ": " + std::to_string(s.M) + "x" + std::to_string(s.K) + "x" + std::to_string(s.N));
    state.counters["GFLOPs"] = benchmark::Counter(2.0 * static_cast<double>(s.M * s.K * s.N) * 1e-9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

// Args: shape index, threads.
void BM_Sgemm(benchmark::State& state) {
    const Threads threads(state.range(1));
    const GemmShape& s = gemm_shapes[static_cast<std::size_t>(state.range(0))];
    Operands op(s);
    for (auto _ : state) {
        kernels::packed_gemm(s.M, s.N, s.K, kernels::row_major(op.a.data(), s.K),
                             kernels::MatrixB{op.b.data(), static_cast<std::ptrdiff_t>(s.N)}, op.c.data(), s.N, false);
        benchmark::DoNotOptimize(op.c.data());
    }
    label(state, s);
}

// OpenBLAS through its C ABI, loaded by name so the library links nothing of it.
struct OpenBlas {
    using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
    using SetThreads = void (*)(int);
    Sgemm sgemm = nullptr;
    SetThreads set_threads = nullptr;
    OpenBlas() {
        void* lib = ::dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!lib) return;
        sgemm = reinterpret_cast<Sgemm>(::dlsym(lib, "cblas_sgemm"));
        set_threads = reinterpret_cast<SetThreads>(::dlsym(lib, "openblas_set_num_threads"));
    }
};

void BM_OpenBlasSgemm(benchmark::State& state) {
    static const OpenBlas blas;
    if (!blas.sgemm || !blas.set_threads) {
        state.SkipWithError("libopenblas.so.0 not found (apt-get install libopenblas0-pthread)");
        return;
    }
    blas.set_threads(static_cast<int>(state.range(1)));
    const GemmShape& s = gemm_shapes[static_cast<std::size_t>(state.range(0))];
    Operands op(s);
    constexpr int row_major = 101, no_trans = 111;
    const auto M = static_cast<int>(s.M), N = static_cast<int>(s.N), K = static_cast<int>(s.K);
    for (auto _ : state) {
        blas.sgemm(row_major, no_trans, no_trans, M, N, K, 1.0f, op.a.data(), K, op.b.data(), N, 0.0f, op.c.data(), N);
        benchmark::DoNotOptimize(op.c.data());
    }
    label(state, s);
}

void gemm_args(benchmark::internal::Benchmark* b) {
    for (std::int64_t threads : {1, 2})
        for (std::int64_t i = 0; i < static_cast<std::int64_t>(gemm_shapes.size()); ++i) b->Args({i, threads});
}
BENCHMARK(BM_Sgemm)->Apply(gemm_args)->Unit(benchmark::kMillisecond)->MinTime(0.3)->UseRealTime();
BENCHMARK(BM_OpenBlasSgemm)->Apply(gemm_args)->Unit(benchmark::kMillisecond)->MinTime(0.3)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
