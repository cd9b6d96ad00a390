// Fault drills for distributed checkpoints, run by CTest (kill_trials.py and the hang test):
//   checkpoint_faults loop DIR      under mpirun: LeNet5 data parallel, a committed save every step, until killed
//   checkpoint_faults hang DIR      under mpirun -np 2: rank 1 stops itself before a commit; rank 0 must give up
//   checkpoint_faults verify DIR    one process: every manifest's files whole, and the newest step resumes
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "mindsave/data/mnist.hpp"
#include "mindsave/distributed/mpi.hpp"
#include "mindsave/mindsave.hpp"

namespace ms = mindsave;
namespace vision = mindsave::data::vision;

namespace {

using Ctx = ms::RunContext<ms::LeNet5<>, ms::Momentum>;

auto dataset(const ms::data::MnistDataset& source, int rank, int ranks) {
    return source.map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255, 0.0}, vision::HWC2CHW{})
        .shard(static_cast<std::size_t>(ranks), static_cast<std::size_t>(rank), true, 1)
        .batch(4, true)
        .take(50);
}

// Writes DIR/pid_{rank} once training runs, so the driver knows whom to kill and that saves are under way.
struct AnnouncePid {
    std::filesystem::path file;
    bool done = false;
    void on_train_step_end(Ctx& ctx) {
        if (done || ctx.cur_step_num < 2) return;
        done = true;
        std::ofstream(file.string() + ".tmp") << ::getpid() << '\n';
        std::filesystem::rename(file.string() + ".tmp", file);
    }
};

// Rank 1 stops itself (SIGSTOP: alive, silent) before ModelCheckpoint commits step 2.
struct StopBeforeCommit {
    int rank;
    void on_train_step_end(Ctx& ctx) {
        if (rank == 1 && ctx.cur_step_num == 2) ::raise(SIGSTOP);
    }
};

int verify(const std::filesystem::path& dir) {
    const auto steps = ms::committed_steps(dir);
    for (const auto& step : steps)
        if (const auto why = ms::verify_step(step)) {
            std::cout << "TORN committed step " << step.name << ": " << *why << '\n';
            return 1;
        }
    // what a crash left uncommitted: rank files without a manifest, temp files
    std::size_t uncommitted = 0, temps = 0;
    std::error_code ec;
    for (const auto& rank_dir : std::filesystem::directory_iterator(dir, ec)) {
        if (!rank_dir.is_directory()) continue;
        for (const auto& e : std::filesystem::directory_iterator(rank_dir.path(), ec)) {
            const std::string name = e.path().filename().string();
            if (name.ends_with(".tmp")) ++temps;
            else if (name.ends_with(".ckpt") &&
                     !std::filesystem::exists(dir / (name.substr(0, name.size() - 5) + std::string(ms::manifest_extension))))
                ++uncommitted;
        }
    }
    const auto latest = ms::latest_checkpoint(dir);
    if (!steps.empty() && !latest) {
        std::cout << "NO RESUME POINT although " << steps.size() << " steps are committed\n";
        return 1;
    }
    if (latest) {  // the newest committed step loads into a fresh trainer
        ms::LeNet5<> net(9);
        ms::SoftmaxCrossEntropyWithLogits<> loss;
        ms::Momentum opt(net, {.learning_rate = 0.01f, .momentum = 0.9f});
        ms::Model model(net, loss, opt);
        const auto step = model.resume(ms::load_checkpoint(*latest));
        std::cout << "verified " << steps.size() << " committed steps; resumed from " << latest->filename().string()
                  << " at step " << step << "; uncommitted files " << uncommitted << ", temp files " << temps << '\n';
    } else {
        std::cout << "verified 0 committed steps; uncommitted files " << uncommitted << ", temp files " << temps << '\n';
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: checkpoint_faults loop|hang|verify DIR\n";
        return 2;
    }
    const std::string_view mode = argv[1];
    const std::filesystem::path dir = argv[2];
    try {
        if (mode == "verify") return verify(dir);
        auto& world = ms::mpi::init();
        const int rank = world.rank(), ranks = world.size();
        ms::set_num_threads(1);
        const ms::data::MnistDataset source(std::getenv("MINDSAVE_MNIST") ? std::getenv("MINDSAVE_MNIST") : "data/mnist", "test");
        auto data = dataset(source, rank, ranks);
        ms::LeNet5<> net(1);
        ms::SoftmaxCrossEntropyWithLogits<> loss;
        ms::Momentum opt(net, {.learning_rate = 0.01f, .momentum = 0.9f});
        ms::Model model(net, loss, opt);
        model.set_data_parallel(world);
        ms::ModelCheckpoint ckpt("lenet", dir, {.save_checkpoint_steps = 1, .keep_checkpoint_max = 3});
        if (mode == "loop") {
            AnnouncePid announce{dir / ("pid_" + std::to_string(rank))};
            model.train(1000000, data, announce, ckpt);  // until killed
            return 0;
        }
        if (mode == "hang") {
            world.set_timeout(std::chrono::seconds(3));
            model.train(1, data, StopBeforeCommit{rank}, ckpt);
            std::cout << "rank " << rank << ": the commit did not wait for the stopped rank\n";
            return 1;
        }
        std::cerr << "unknown mode " << mode << '\n';
        return 2;
    } catch (const ms::Error& e) {
        std::cout << "rank " << ms::get_rank() << ": " << e.what() << std::endl;
        return 3;
    }
}
