// Real MNIST's test set as MindSpore's LeNet5 tutorial evaluates it (Resize 32, Rescale 1/255, normalise,
// HWC2CHW), batched without dropping the remainder: the tests that score a trained LeNet5 share it.
#pragma once

#include <cstddef>
#include <filesystem>

#include "mindsave/data/mnist.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/transforms.hpp"

namespace mindsave::testing {

inline auto mnist_eval_set(const std::filesystem::path& mnist, std::size_t batch_size) {
    namespace vision = mindsave::data::vision;
    return data::MnistDataset(mnist, "test")
        .map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0},
             vision::Rescale{1.0 / 0.3081, -1.0 * 0.1307 / 0.3081}, vision::HWC2CHW{})
        .batch(batch_size, false);
}

}  // namespace mindsave::testing
