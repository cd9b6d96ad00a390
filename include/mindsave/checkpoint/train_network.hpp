// train_network(net, optimizer): one parameter holder over several, in order, as MindSpore's train
// network saves the network's parameters and then the optimizer's (global_step, moments.*, ...).
#pragma once

#include <string_view>
#include <tuple>

#include "mindsave/core/concepts.hpp"

namespace mindsave {

template <HasParameters... Parts>
class ParameterUnion {
public:
    explicit ParameterUnion(Parts&... parts) : parts_(parts...) {}

    template <class F>
    void visit_parameters(F&& f) {
        std::apply([&](auto&... part) { (mindsave::visit_parameters(part, f), ...); }, parts_);
    }

private:
    std::tuple<Parts&...> parts_;
};

// The network's parameters followed by the optimizer's, under their own names (no prefixes).
template <HasParameters... Parts>
ParameterUnion<Parts...> train_network(Parts&... parts) {
    return ParameterUnion<Parts...>(parts...);
}

}  // namespace mindsave
