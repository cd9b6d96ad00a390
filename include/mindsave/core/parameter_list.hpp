// MindSpore's parameter lists: get_parameters, trainable_params, untrainable_params and
// parameters_and_names over anything with parameters, each entry named as MindSpore names it.
#pragma once

#include <concepts>
#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/parameter.hpp"
#include "mindsave/core/tensor.hpp"

namespace mindsave {

// One parameter as get_parameters() yields it: its global dotted name (MindSpore's Parameter.name,
// "head.dense.weight" even when listed from net.get<"head">()), its value, and its requires_grad flag.
// Moving statistics (BatchNorm's moving_mean) are listed with requires_grad false, as MindSpore lists
// them. A reference: valid while the network lives where it is.
class ParameterRef {
public:
    std::string name;

    template <class P>
    ParameterRef(std::string n, P& p, bool* flag) : name(std::move(n)), flag_(flag) {
        if constexpr (std::is_same_v<std::remove_cv_t<P>, TensorView>) {
            fixed_ = p;  // a view handed out for the visit only (ParameterSource): kept by value
        } else {
            target_ = &p;
            view_ = [](void* t) { return view_of(*static_cast<P*>(t)); };
        }
        const TensorView v = value();
        dtype_ = v.dtype;
        shape_ = v.shape;
    }

    // The parameter's memory as it is now: looked up on each call, since an optimizer writing aside
    // (ModelCheckpoint's async_save) moves it to another buffer between steps.
    TensorView value() const { return target_ ? view_(target_) : fixed_; }
    const Shape& shape() const noexcept { return shape_; }
    DType dtype() const noexcept { return dtype_; }
    bool requires_grad() const noexcept { return flag_ && *flag_; }
    // Freezes or unfreezes the parameter (p.requires_grad = False). An optimizer built afterwards
    // leaves a frozen one alone, as MindSpore's built over trainable_params() does.
    void set_requires_grad(bool on) const {
        if (!flag_) {
            if (!on) return;
            throw ConfigError("'" + name + "' is a statistic the layer updates itself (no gradient); it cannot "
                              "require one");
        }
        *flag_ = on;
    }

    // Parameter (name=conv1.weight, shape=(6, 1, 5, 5), dtype=Float32, requires_grad=True)
    friend std::ostream& operator<<(std::ostream& os, const ParameterRef& p) {
        os << "Parameter (name=" << p.name << ", shape=(";
        for (std::size_t i = 0; i < p.shape_.size(); ++i) os << (i ? ", " : "") << p.shape_[i];
        if (p.shape_.size() == 1) os << ',';  // a Python 1-tuple
        return os << "), dtype=" << dtype_name(p.dtype_) << ", requires_grad=" << (p.requires_grad() ? "True" : "False")
                  << ')';
    }

private:
    void* target_ = nullptr;
    TensorView (*view_)(void*) = nullptr;
    TensorView fixed_{};
    bool* flag_;  // the Parameter's requires_grad; null for a statistic
    DType dtype_;
    Shape shape_;
};

namespace detail {
inline std::string join_path(std::string_view prefix, std::string_view name) {
    std::string s(prefix);
    if (!s.empty() && !name.empty()) s += '.';
    return s.append(name);
}

// Where a sub-network's names start: its param_prefix() ("head"), or nothing for a network used alone.
template <class T>
std::string_view param_prefix_of(const T& obj) noexcept {
    if constexpr (requires { { obj.param_prefix() } -> std::same_as<std::string_view>; }) return obj.param_prefix();
    else return {};
}

// A network's place in an enclosing one. It is not part of the network's value: a copy takes it along
// (a copied MindSpore cell keeps its parameters' names), an assignment keeps the target's
// (net.get<"head">() = DenseHead<2>() still names head.dense.weight).
struct ParamPrefix {
    std::string value;
    ParamPrefix() = default;
    ParamPrefix(const ParamPrefix&) = default;
    ParamPrefix(ParamPrefix&&) noexcept = default;
    ParamPrefix& operator=(const ParamPrefix&) noexcept { return *this; }
    ParamPrefix& operator=(ParamPrefix&&) noexcept { return *this; }
};

// Tells a layer the prefix its parameters' names continue ("backbone.layer1.0"); composites pass it on.
template <class T>
void assign_param_prefix(T& obj, std::string_view prefix) {
    if constexpr (requires { obj.assign_param_prefix(prefix); }) obj.assign_param_prefix(prefix);
}

enum class ParameterFilter { all, trainable, untrainable };

// Each parameter as (name relative to obj under name_prefix, ParameterRef with its global name).
template <class Obj, class F>
void for_each_parameter_ref(Obj& obj, ParameterFilter filter, F&& f) {
    const std::string_view prefix = param_prefix_of(obj);
    mindsave::visit_parameters(obj, [&](std::string_view local, auto& p) {
        using P = std::remove_cvref_t<decltype(p)>;
        bool* flag = nullptr;
        if constexpr (is_parameter<P>::value) flag = &p.requires_grad;
        const bool trainable = flag && *flag;
        if ((filter == ParameterFilter::trainable && !trainable) || (filter == ParameterFilter::untrainable && trainable))
            return;
        f(local, ParameterRef(join_path(prefix, local), p, flag));
    });
}
template <class Obj>
std::vector<ParameterRef> parameter_refs(Obj& obj, ParameterFilter filter) {
    std::vector<ParameterRef> out;
    for_each_parameter_ref(obj, filter, [&](std::string_view, ParameterRef r) { out.push_back(std::move(r)); });
    return out;
}
}  // namespace detail

// Every parameter of net in save order (MindSpore's net.get_parameters()), statistics included.
template <HasParameters Net>
std::vector<ParameterRef> get_parameters(Net& net) {
    return detail::parameter_refs(net, detail::ParameterFilter::all);
}
// The parameters that require a gradient: what an optimizer is built over.
template <HasParameters Net>
std::vector<ParameterRef> trainable_params(Net& net) {
    return detail::parameter_refs(net, detail::ParameterFilter::trainable);
}
// The rest: frozen parameters and moving statistics.
template <HasParameters Net>
std::vector<ParameterRef> untrainable_params(Net& net) {
    return detail::parameter_refs(net, detail::ParameterFilter::untrainable);
}
// (name, parameter) pairs as MindSpore's parameters_and_names(name_prefix): the name is the path inside
// net under name_prefix ("dense.weight"), the parameter keeps its global name ("head.dense.weight").
template <HasParameters Net>
std::vector<std::pair<std::string, ParameterRef>> parameters_and_names(Net& net, std::string_view name_prefix = {}) {
    std::vector<std::pair<std::string, ParameterRef>> out;
    detail::for_each_parameter_ref(net, detail::ParameterFilter::all, [&](std::string_view local, ParameterRef r) {
        out.emplace_back(detail::join_path(name_prefix, local), std::move(r));
    });
    return out;
}

}  // namespace mindsave
