// Cell<L>: a named child layer that knows where it sits in its network, so its parameter lists carry
// MindSpore's global names ("head.dense.weight" from net.get<"head">()), plus the uninitialised tag.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/parameter_list.hpp"
#include "mindsave/core/rng.hpp"

namespace mindsave {

// Tag for constructing a network without initialising it: its parameters stay zero until
// initialize(). Sequential builds its children this way, so a nested network is initialised once,
// by the outermost one, instead of once per level.
struct uninitialized_t {
    explicit uninitialized_t() = default;
};
inline constexpr uninitialized_t uninitialized{};

namespace detail {
// L built uninitialised when it takes the tag, default-constructed otherwise (plain layers never
// initialise themselves).
template <class L>
L make_uninitialized() {
    if constexpr (std::is_constructible_v<L, uninitialized_t>) return L(uninitialized);
    else return L();
}
}  // namespace detail

// The layer L as a child of a network: everything L is (net.get<"fc1">().weight still works), plus
// MindSpore's parameter lists under the child's place in the network. The enclosing network sets
// that place when it is built; a copy keeps it, as a copied MindSpore cell keeps its parameters' names.
template <Layer L>
class Cell : public L {
public:
    Cell() = default;
    explicit Cell(uninitialized_t tag) requires std::is_constructible_v<L, uninitialized_t> : L(tag) {}
    explicit Cell(uninitialized_t) requires(!std::is_constructible_v<L, uninitialized_t>) : L() {}
    explicit Cell(Generator& g) requires std::is_constructible_v<L, Generator&> : L(g) {}
    // A new value for the child keeps its place: net.get<"head">() = DenseHead<2>(seed).
    Cell& operator=(const L& value) {
        L::operator=(value);
        return *this;
    }
    Cell& operator=(L&& value) {
        L::operator=(std::move(value));
        return *this;
    }

    // The dotted path of this child in its network ("backbone.layer1.0"), MindSpore's param_prefix.
    std::string_view param_prefix() const noexcept { return prefix_.value; }
    void assign_param_prefix(std::string_view prefix) {
        prefix_.value = prefix;
        detail::assign_param_prefix(static_cast<L&>(*this), prefix);
    }

    std::vector<ParameterRef> get_parameters() { return mindsave::get_parameters(*this); }
    std::vector<ParameterRef> trainable_params() { return mindsave::trainable_params(*this); }
    std::vector<ParameterRef> untrainable_params() { return mindsave::untrainable_params(*this); }
    std::vector<std::pair<std::string, ParameterRef>> parameters_and_names(std::string_view name_prefix = {}) {
        return mindsave::parameters_and_names(*this, name_prefix);
    }

private:
    detail::ParamPrefix prefix_;
};

namespace detail {
// Cell<L> is L where a layer's type is looked at (export rules, graph files): unwrap it first.
template <class T>
struct is_cell : std::false_type {};
template <class L>
struct is_cell<Cell<L>> : std::true_type {
    using layer = L;
};
}  // namespace detail

}  // namespace mindsave
