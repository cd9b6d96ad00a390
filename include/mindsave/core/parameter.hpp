// A trainable parameter: its value and the gradient accumulated by backward, side by side.
// Layers own Parameters; optimizers and checkpoint code reach them by dotted path (see concepts.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>

#include <xtensor/xtensor.hpp>

#include "mindsave/core/tensor.hpp"

namespace mindsave {

template <std::size_t Rank, class T = float>
struct Parameter {
    using value_type = T;
    static constexpr std::size_t rank = Rank;

    xt::xtensor<T, Rank> value;
    xt::xtensor<T, Rank> grad;
    bool requires_grad = true;

    Parameter() = default;
    explicit Parameter(const std::array<std::size_t, Rank>& shape)
        : value(xt::xtensor<T, Rank>::from_shape(shape)), grad(xt::xtensor<T, Rank>::from_shape(shape)) {
        value.fill(T{});
        grad.fill(T{});
    }

    Parameter(const Parameter&) = default;
    Parameter(Parameter&&) noexcept = default;
    // Assignment keeps this parameter's memory when the shapes agree, so an optimizer built over a
    // network stays valid when the network is assigned a new value (net = LeNet5<>(seed)).
    Parameter& operator=(const Parameter& o) {
        if (this != &o) assign(o);
        return *this;
    }
    Parameter& operator=(Parameter&& o) noexcept(false) {
        if (this != &o) assign(o);
        return *this;
    }

    std::size_t size() const noexcept { return value.size(); }
    void zero_grad() noexcept { grad.fill(T{}); }

private:
    void assign(const Parameter& o) {
        // a moved-from tensor keeps its shape but not its storage: compare storage sizes too
        if (value.shape() == o.value.shape() && grad.shape() == o.grad.shape() &&
            value.storage().size() == o.value.storage().size() && grad.storage().size() == o.grad.storage().size()) {
            std::copy(o.value.begin(), o.value.end(), value.begin());
            std::copy(o.grad.begin(), o.grad.end(), grad.begin());
        } else {
            value = o.value;
            grad = o.grad;
        }
        requires_grad = o.requires_grad;
    }
};

template <class P>
struct is_parameter : std::false_type {};
template <std::size_t R, class T>
struct is_parameter<Parameter<R, T>> : std::true_type {};

// The view of a parameter is the view of its value: files hold values, never gradients.
template <std::size_t R, class T>
TensorView view_of(Parameter<R, T>& p) {
    return view_of(p.value);
}

}  // namespace mindsave
