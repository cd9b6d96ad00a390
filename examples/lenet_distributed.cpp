// LeNet5 trained data parallel over MPI, as MindSpore's distributed tutorial trains on GPUs with mpirun:
//   mpirun -np 2 build/examples/lenet_distributed      (as root: --allow-run-as-root; more ranks than cores: --oversubscribe)
// Each rank reads its shard of Fashion-MNIST (MindSpore's num_shards / shard_id), gradients are averaged across
// the ranks in fused buckets every step, ModelCheckpoint writes {ckpt}/rank_{r}/ and commits each step with a
// manifest, --resume continues from the newest committed step, and rank 0 prints and evaluates.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "mindsave/core/parallel.hpp"
#include "mindsave/data/mnist.hpp"
#include "mindsave/distributed/mpi.hpp"
#include "mindsave/mindsave.hpp"

namespace ms = mindsave;
namespace vision = mindsave::data::vision;

int main(int argc, char** argv) {
    std::filesystem::path data = "/usr/share/datasets/fashion-mnist";
    std::filesystem::path ckpt_dir = "lenet_distributed_ckpt";
    std::size_t epochs = 1, batch = 32;
    bool resume = false;
    const auto usage = [] {
        std::cerr << "usage: lenet_distributed [--data DIR] [--epochs N] [--batch N] [--ckpt DIR] [--resume]   "
                     "(batch per rank)\n";
        return 2;
    };
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string_view arg = argv[i];
            const bool has_value = i + 1 < argc;
            if (arg == "--resume") resume = true;
            else if (arg == "--data" && has_value) data = argv[++i];
            else if (arg == "--ckpt" && has_value) ckpt_dir = argv[++i];
            else if (arg == "--epochs" && has_value) epochs = std::stoul(argv[++i]);
            else if (arg == "--batch" && has_value) batch = std::stoul(argv[++i]);
            else return usage();
        }
    } catch (const std::logic_error&) {  // a count that is not a number
        return usage();
    }
    try {
        auto& world = ms::mpi::init();  // MindSpore's init(): MPI, and get_rank() / get_group_size()
        const auto rank = static_cast<std::size_t>(ms::get_rank()), ranks = static_cast<std::size_t>(ms::get_group_size());
        // The ranks share this machine's cores (one host here): each computes on its share of them.
        ms::set_num_threads(std::max<std::size_t>(1, std::thread::hardware_concurrency() / ranks));
        auto quickstart = [](const ms::data::MnistDataset& s) {
            return s.map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0},
                         vision::Rescale{1.0 / 0.3081, -1.0 * 0.1307 / 0.3081}, vision::HWC2CHW{});
        };
        const ms::data::MnistDataset train_source(data, "train"), test_source(data, "test");
        // This rank's shard, shuffled alike on every rank each epoch: together the shards cover the set once.
        auto train = quickstart(train_source).shard(ranks, rank, /*shuffle=*/true, /*seed=*/1).batch(batch, true);
        auto test = quickstart(test_source).batch(256, false);

        ms::LeNet5<> net(1);
        ms::SoftmaxCrossEntropyWithLogits<> loss;
        ms::Momentum optimizer(net, {.learning_rate = 0.01f, .momentum = 0.9f});
        ms::Model model(net, loss, optimizer, {{"Accuracy", ms::metrics::Accuracy{}}});
        model.set_data_parallel(world);  // rank 0's weights to all; gradients averaged (gradients_mean)
        if (resume)  // every rank its own file of the newest committed step
            if (const auto last = ms::latest_checkpoint(world, ckpt_dir)) {  // collective: node-local disks too
                const auto step = model.resume(ms::load_checkpoint(*last));
                if (rank == 0) std::cout << "resuming after step " << step << " from " << last->string() << " (each rank its own)\n";
            }
        // each rank writes {ckpt}/rank_{r}/lenet-{epoch}_{step}.ckpt; rank 0 commits every step with a manifest
        ms::ModelCheckpoint ckpt("lenet", ckpt_dir, {.save_checkpoint_steps = 500, .keep_checkpoint_max = 2});
        if (rank == 0)
            std::cout << ranks << " ranks, " << train.get_dataset_size() << " steps of " << batch << " per rank per epoch ("
                      << ranks * batch << " images a step in all)\n";
        const auto t0 = std::chrono::steady_clock::now();
        model.train(epochs, train, ckpt, ms::LossMonitor(train.get_dataset_size() / 4 ? train.get_dataset_size() / 4 : 1));
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (rank == 0) {
            std::cout << "trained " << epochs << " epoch(s) in " << seconds << " s; test: " << model.eval(test) << "\n";
            if (!ckpt.latest_ckpt_file_name().empty())
                std::cout << "committed checkpoint: " << ckpt.latest_ckpt_file_name().string() << " (every rank's beside it)\n";
            ms::save_checkpoint(net, "lenet_distributed.ckpt");  // every rank holds the same weights
            std::cout << "rank 0 saved lenet_distributed.ckpt\n";
        }
        world.barrier();
    } catch (const ms::Error& e) {
        std::cerr << "lenet_distributed (rank " << ms::get_rank() << "): " << e.what() << '\n';
        return 1;
    }
    return 0;
}
