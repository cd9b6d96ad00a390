// A network or layer type's MindSpore cell name ("Conv2d", "LeNet5", "Momentum"), shown in graph names and
// scopes by export and the graph.meta tracer. Types declare their own; the one rule for reading it is here.
#pragma once

#include <string_view>

namespace mindsave {

// A type's own `static constexpr std::string_view cell_name`, else "Cell". A type that cannot hold a member
// (a network defined as an alias of Sequential, as LeNet5 is) specializes this beside its definition.
template <class T>
inline constexpr std::string_view cell_name = [] {
    if constexpr (requires { T::cell_name; }) return std::string_view(T::cell_name);
    else return std::string_view("Cell");
}();

}  // namespace mindsave
