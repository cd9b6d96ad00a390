// LeNet5 exactly as MindSpore's model zoo / quick-start defines it: convs without bias, ReLU after
// fc1 and fc2, Dense weights Normal(0.02); parameter names and shapes match MindSpore's checkpoints.
#pragma once

#include <cstddef>
#include <string_view>

#include "mindsave/core/cell_name.hpp"
#include "mindsave/nn/activation.hpp"
#include "mindsave/nn/conv2d.hpp"
#include "mindsave/nn/dense.hpp"
#include "mindsave/nn/pooling.hpp"
#include "mindsave/nn/sequential.hpp"

namespace mindsave {

// Input [N, NumChannel, 32, 32]; output logits [N, NumClass].
// Parameters: conv1.weight [6,C,5,5], conv2.weight [16,6,5,5], fc1.{weight [120,400], bias},
// fc2.{weight [84,120], bias}, fc3.{weight [NumClass,84], bias}.
template <std::size_t NumClass = 10, std::size_t NumChannel = 1>
using LeNet5 = Sequential<
    Named<"conv1", Conv2d<NumChannel, 6, 5, PadMode::valid>>, ReLU, MaxPool2d<2, 2>,
    Named<"conv2", Conv2d<6, 16, 5, PadMode::valid>>, ReLU, MaxPool2d<2, 2>, Flatten,
    Named<"fc1", Dense<16 * 5 * 5, 120, init::Normal<0.02>>>, ReLU,
    Named<"fc2", Dense<120, 84, init::Normal<0.02>>>, ReLU,
    Named<"fc3", Dense<84, NumClass, init::Normal<0.02>>>>;

// An alias cannot hold a member: its cell name is given here, as MindSpore's class name.
template <std::size_t NumClass, std::size_t NumChannel>
inline constexpr std::string_view cell_name<LeNet5<NumClass, NumChannel>> = "LeNet5";

}  // namespace mindsave
