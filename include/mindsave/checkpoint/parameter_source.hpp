// ParameterSource: any parameter holder behind one type, for settings that hold "a network" at run
// time (CheckpointConfig::saved_network). It visits TensorViews, so it is a parameter holder itself.
#pragma once

#include <functional>
#include <string_view>

#include "mindsave/core/concepts.hpp"

namespace mindsave {

// The view of a view is itself: lets TensorView pass through visit_parameters like any tensor.
inline TensorView view_of(TensorView& v) { return v; }

class ParameterSource {
public:
    using Visitor = std::function<void(std::string_view, TensorView&)>;

    template <HasParameters T>
        requires(!std::same_as<T, ParameterSource>)
    ParameterSource(T& holder)
        : visit_([&holder](const Visitor& f) {
              mindsave::visit_parameters(holder, [&](std::string_view name, auto& p) {
                  TensorView v = view_of(p);
                  f(name, v);
              });
          }) {}

    template <class F>
    void visit_parameters(F&& f) {
        visit_([&](std::string_view name, TensorView& v) { f(name, v); });
    }

private:
    std::function<void(const Visitor&)> visit_;
};

}  // namespace mindsave
