// crash_saver: the child program of the crash-safety test. It trains LeNet5 on random in-memory
// batches and writes a checkpoint every step into a folder, as fast as it can, until it is killed.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <vector>

#include "mindsave/mindsave.hpp"

using namespace mindsave;

namespace {

// A few random batches held in memory: the crash test needs steps and saves, not learning.
class RandomBatches {
public:
    RandomBatches(std::size_t batches, std::size_t batch_size, std::uint64_t seed) {
        Generator g(seed);
        for (std::size_t b = 0; b < batches; ++b) {
            Tensor images = Tensor::from_shape({batch_size, 1, 32, 32});
            for (auto& v : images) v = static_cast<float>(g.uniform(-1.0, 1.0));
            Labels labels = Labels::from_shape({batch_size});
            for (auto& l : labels) l = static_cast<std::int32_t>(g.below(10));
            images_.push_back(std::move(images));
            labels_.push_back(std::move(labels));
        }
    }
    std::size_t get_dataset_size() const noexcept { return images_.size(); }
    void reset(std::size_t) noexcept { next_ = 0; }
    bool next(Batch& batch) {
        if (next_ == images_.size()) return false;
        batch.images = images_[next_];
        batch.labels = labels_[next_];
        ++next_;
        return true;
    }

private:
    std::vector<Tensor> images_;
    std::vector<Labels> labels_;
    std::size_t next_ = 0;
};

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
