// request_exit_child: the child program of the SIGTERM test. It trains LeNet5 on random in-memory
// batches with OnRequestExit and a ModelCheckpoint saving every step, says "ready" once the handler is
// in place, and on SIGTERM prints the step it stopped at, saves that state once more by hand as
// after.ckpt (the reference), and returns OnRequestExit's exit status.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>

#include "crash_support.hpp"
#include "mindsave/mindsave.hpp"

using namespace mindsave;
using mindsave::testing::RandomBatches;

namespace {
struct SayReady {
    template <class Ctx>
    void on_train_begin(Ctx&) {
        std::fputs("ready\n", stdout);
        std::fflush(stdout);
    }
};
}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: request_exit_child <folder>   (trains until SIGTERM)\n");
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    try {
        LeNet5<> net;
        SoftmaxCrossEntropyWithLogits<> loss;
        Momentum opt(net, 0.01f, 0.9f);
        Model model(net, loss, opt);
        RandomBatches data(8, 4, 42);
        OnRequestExit on_exit(true, true, "LeNet5", dir);
        ModelCheckpoint<> periodic("CKP", dir / "periodic", {.save_checkpoint_steps = 1, .keep_checkpoint_max = 2});
        model.train(std::size_t{1} << 40, data, on_exit, SayReady{}, periodic);  // "forever": until SIGTERM
        std::printf("stopped %lld\n", static_cast<long long>(opt.global_step()));
        std::fflush(stdout);
        save_checkpoint(train_network(net, opt), dir / "after.ckpt");
        return on_exit.requested() ? on_exit.exit_status() : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "request_exit_child: %s\n", e.what());
        return 1;
    }
}
