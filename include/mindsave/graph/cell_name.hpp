// A network type's MindSpore cell name ("LeNet5", "Momentum"), used in graph names and scopes by
// the graph.meta tracer and by export: a type's own static cell_name, or "Cell".
#pragma once

#include <cstddef>
#include <string_view>

#include "mindsave/models/lenet5.hpp"
#include "mindsave/models/resnet50.hpp"

namespace mindsave::graph {

// LeNet5 and ResNet50 are aliases of Sequentials, so their names are given here.
template <class T>
inline constexpr std::string_view cell_name = [] {
    if constexpr (requires { T::cell_name; }) return std::string_view(T::cell_name);
    else return std::string_view("Cell");
}();
template <std::size_t C, std::size_t N>
inline constexpr std::string_view cell_name<LeNet5<C, N>> = "LeNet5";
template <std::size_t N>
inline constexpr std::string_view cell_name<ResNet50<N>> = "ResNet";

}  // namespace mindsave::graph
