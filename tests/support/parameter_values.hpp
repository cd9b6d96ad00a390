// Test support: every trainable parameter's values of a network, in save order, as one vector (to compare
// whole networks, or checksum them across ranks).
#pragma once

#include <string_view>
#include <vector>

#include "mindsave/core/concepts.hpp"

namespace mindsave::testing {

template <class Net>
std::vector<float> parameter_values(Net& net) {
    std::vector<float> out;
    visit_parameters(net, [&](std::string_view, auto& p) {
        if constexpr (requires { p.value; }) out.insert(out.end(), p.value.begin(), p.value.end());
    });
    return out;
}

}  // namespace mindsave::testing
