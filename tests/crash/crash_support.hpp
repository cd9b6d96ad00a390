// What the crash and disk-full tests share: an in-memory dataset of random batches (they need steps
// and saves, not learning) and a scratch folder that is removed however a test ends.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/rng.hpp"

namespace mindsave::testing {

namespace fs = std::filesystem;

// A few random batches held in memory, modelling mindsave::Dataset.
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

// A scratch folder, removed when the test ends, pass or fail.
struct ScratchDir {
    fs::path path;
    explicit ScratchDir(const std::string& name)
        : path(fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~ScratchDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

}  // namespace mindsave::testing
