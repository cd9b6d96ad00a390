// crash_saver: the child program of the crash-safety test. It trains LeNet5 on random in-memory
// batches and writes a checkpoint every step into a folder, as fast as it can, until it is killed.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <vector>

#include "crash_support.hpp"
#include "mindsave/mindsave.hpp"

using namespace mindsave;
using mindsave::testing::RandomBatches;
using mindsave::testing::ScratchDir;

namespace {


}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: crash_saver <checkpoint folder>   (runs until killed)\n");
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    try {
        LeNet5<> net;
        SoftmaxCrossEntropyWithLogits<> loss;
        Momentum opt(net, 0.01f, 0.9f);
        Model model(net, loss, opt);
        // A restart resumes from the newest whole checkpoint, as a real job does after a crash; a
        // torn file picked here would fail the load and end this program before the test kills it.
        if (const auto latest = latest_checkpoint(dir)) model.resume(load_checkpoint(*latest));
        ModelCheckpoint<> ckpt("CKP", dir, {.save_checkpoint_steps = 1, .keep_checkpoint_max = 3, .crc_check = true});
        RandomBatches data(8, 4, 42);
        model.train(std::size_t{1} << 40, data, ckpt);  // "forever": the test kills us long before
    } catch (const std::exception& e) {
        std::fprintf(stderr, "crash_saver: %s\n", e.what());
        return 1;
    }
    return 0;
}
