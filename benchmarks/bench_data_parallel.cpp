// Data-parallel LeNet5 training under mpirun, for compare.py's `data_parallel` section beside PyTorch DDP
// (peers/lenet_ddp_bench.py): rank 0 prints one JSON object.
//   step   the training step Model::train runs (forward, backward, the fused gradient allreduce, Momentum) on a
//          random batch of BATCH per rank, 1 thread per rank: median of per-step times over the repetitions
//   epoch  one Fashion-MNIST epoch (60000 images, the quick-start pipeline), each rank its shard with BATCH
//          per rank, THREADS threads per rank; seconds (compare.py runs it at np=2 x 1 thread and np=1 x 2 threads
//          with the batch doubled: the same training)
// usage: bench_data_parallel step|epoch [BATCH] [THREADS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "mindsave/core/parallel.hpp"
#include "mindsave/data/mnist.hpp"
#include "mindsave/distributed/mpi.hpp"
#include "mindsave/mindsave.hpp"

namespace ms = mindsave;
namespace vision = mindsave::data::vision;

namespace {

ms::Batch random_batch(std::size_t n, std::uint64_t seed) {
    ms::Generator g(seed);
    ms::Batch b;
    b.images = ms::Tensor::from_shape({n, 1, 32, 32});
    for (auto& v : b.images) v = static_cast<float>(g.normal());
    b.labels = ms::Labels::from_shape({n});
    for (auto& l : b.labels) l = static_cast<std::int32_t>(g.below(10));
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "step";
    const std::size_t batch = argc > 2 ? std::stoul(argv[2]) : 32, threads = argc > 3 ? std::stoul(argv[3]) : 1;
    try {
        auto& comm = ms::mpi::init();
        ms::set_num_threads(threads);
        ms::LeNet5<> net(1);
        ms::SoftmaxCrossEntropyWithLogits<> loss;
        ms::Momentum opt(net, {.learning_rate = 0.01f, .momentum = 0.9f});
        ms::Model model(net, loss, opt);
        if (comm.size() > 1) model.set_data_parallel(comm);  // one process: the plain step, nothing to exchange
        if (mode == "step") {
            const ms::Batch b = random_batch(batch, 2 + static_cast<std::uint64_t>(comm.rank()));
            std::vector<double> times;
            for (int i = 0; i < 2000 + 100; ++i) {
                const auto t0 = std::chrono::steady_clock::now();
                model.train_step(b);
                const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
                if (i >= 100) times.push_back(ms);
            }
            std::sort(times.begin(), times.end());
            if (comm.rank() == 0)
                std::printf("{\"ranks\": %d, \"batch_per_rank\": %zu, \"threads_per_rank\": %zu, \"step_ms\": %.4f}\n",
                            comm.size(), batch, threads, times[times.size() / 2]);
            return 0;
        }
        const std::filesystem::path dir = "/usr/share/datasets/fashion-mnist";
        const ms::data::MnistDataset source(dir, "train");
        auto train = source
                         .map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0},
                              vision::Rescale{1.0 / 0.3081, -1.0 * 0.1307 / 0.3081}, vision::HWC2CHW{})
                         .shard(static_cast<std::size_t>(comm.size()), static_cast<std::size_t>(comm.rank()), true, 1)
                         .batch(batch, true);
        comm.barrier();
        const auto t0 = std::chrono::steady_clock::now();
        model.train(1, train);
        comm.barrier();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (comm.rank() == 0)
            std::printf("{\"ranks\": %d, \"batch_per_rank\": %zu, \"threads_per_rank\": %zu, \"steps\": %zu, "
                        "\"epoch_s\": %.4f}\n",
                        comm.size(), batch, threads, train.get_dataset_size(), seconds);
    } catch (const ms::Error& e) {
        std::fprintf(stderr, "bench_data_parallel: %s\n", e.what());
        return 1;
    }
    return 0;
}
