// Composition: Named<"conv1", L> gives a layer its MindSpore attribute name, Sequential<Ls...> chains
// layers in forward order and owns the activations between them, so a network is a type; in inference
// it runs a convolution with the BatchNorm (and ReLU) after it as one layer.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/parameter_list.hpp"
#include "mindsave/core/rng.hpp"
#include "mindsave/core/schema.hpp"
#include "mindsave/nn/cell.hpp"
#include "mindsave/nn/inference.hpp"

namespace mindsave {

// A string usable as a template argument: Named<"fc1", ...>.
template <std::size_t N>
struct fixed_string {
    char chars[N]{};
    constexpr fixed_string(const char (&s)[N]) { std::copy_n(s, N, chars); }
    constexpr std::string_view view() const noexcept { return {chars, N - 1}; }
};

template <fixed_string Name, Layer L>
class Named {
public:
    using layer_type = L;
    static constexpr std::string_view name = Name.view();

    Named() { layer_.assign_param_prefix(name); }
    explicit Named(uninitialized_t) : layer_(uninitialized) { layer_.assign_param_prefix(name); }
    explicit Named(Generator& g) : layer_(g) { layer_.assign_param_prefix(name); }

    L& layer() noexcept { return layer_; }
    const L& layer() const noexcept { return layer_; }
    // The child with its place in the network (Sequential::get<Name> hands this out).
    Cell<L>& cell() noexcept { return layer_; }
    const Cell<L>& cell() const noexcept { return layer_; }
    // prefix: where the enclosing network's names start; this child's continue with its name.
    void assign_param_prefix(std::string_view prefix) { layer_.assign_param_prefix(detail::join_path(prefix, name)); }

    void forward(const Tensor& x, Tensor& y) { layer_.forward(x, y); }
    void infer(const Tensor& x, Tensor& y, const PostOp* post) { mindsave::infer(layer_, x, y, post); }
    void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) { layer_.backward(x, y, dy, dx); }
    bool prepare_samples(const Tensor& x, Tensor& y) requires SampleWise<L> { return layer_.prepare_samples(x, y); }
    void forward_samples(const Tensor& x, Tensor& y, std::size_t b, std::size_t e, std::size_t t)
        requires SampleWise<L> { layer_.forward_samples(x, y, b, e, t); }
    bool prepare_backward_samples(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx)
        requires SampleWiseBackward<L> { return layer_.prepare_backward_samples(x, y, dy, dx); }
    void backward_samples(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, std::size_t b, std::size_t e,
                          std::size_t t) requires SampleWiseBackward<L> { layer_.backward_samples(x, y, dy, dx, b, e, t); }
    void finish_backward_samples(const Tensor& x, const Tensor& dy) requires SampleWiseBackward<L> {
        layer_.finish_backward_samples(x, dy);
    }
    template <class G>
    void initialize(G& g) { mindsave::initialize(layer_, g); }
    void set_train(bool training) { mindsave::set_train(layer_, training); }

    template <class F>
    void visit_parameters(F&& f) { mindsave::visit_parameters(layer_, name, f); }
    static constexpr void describe_parameters(SchemaBuilder& b) { b.child<L>(name); }

private:
    Cell<L> layer_;
};

namespace detail {
template <class L> struct is_named : std::false_type {};
template <fixed_string N, class L> struct is_named<Named<N, L>> : std::true_type {};

// The layer inside its Named and Cell wrappers, as a type and as an object.
template <class L> struct unwrap { using type = L; };
template <class L> struct unwrap<Cell<L>> : unwrap<L> {};
template <fixed_string N, class L> struct unwrap<Named<N, L>> : unwrap<L> {};
template <class L> using unwrap_t = typename unwrap<L>::type;
template <class L>
auto& unwrap_layer(L& l) noexcept {
    if constexpr (is_named<L>::value) return unwrap_layer(static_cast<typename L::layer_type&>(l.layer()));
    else return l;
}

// Inference fusion (Sequential::infer): a layer that applies a PostOp in its stores (Conv2d says so), one
// that folds into the PostOp as its ReLU, and a layer in which something fuses (a Sequential, a Residual).
template <class L> concept stores_post = TakesPostOp<L> && requires { requires L::stores_post; };
template <class L> concept folds_as_relu = requires { requires L::folds_as_relu; };
template <class L> concept fuses_in_inference = requires { requires L::fuses_in_inference; };

template <std::size_t N, class F>
constexpr void for_each_index(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f(std::integral_constant<std::size_t, I>{}), ...); }
    (std::make_index_sequence<N>{});
}
template <std::size_t N, class F>
constexpr void for_each_index_reversed(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (f(std::integral_constant<std::size_t, N - 1 - I>{}), ...);
    }(std::make_index_sequence<N>{});
}
}  // namespace detail

// Layers in forward order. A Named child contributes its name to parameter paths; an unnamed one
// its index, as MindSpore's SequentialCell does ("0.weight").
template <Layer... Ls>
class Sequential {
    static_assert(sizeof...(Ls) > 0, "Sequential needs at least one layer");
    static constexpr std::size_t count = sizeof...(Ls);

public:
    static constexpr std::string_view cell_name = "SequentialCell";
    // A fresh network is initialised from a fixed seed (0) unless given one: runs are reproducible.
    Sequential() : Sequential(std::uint64_t{0}) {}
    explicit Sequential(std::uint64_t seed) : layers_(detail::make_uninitialized<Ls>()...) {
        assign_param_prefix({});
        Generator g(seed);
        initialize(g);
    }
    explicit Sequential(Generator& g) : layers_(detail::make_uninitialized<Ls>()...) {
        assign_param_prefix({});
        initialize(g);
    }
    explicit Sequential(uninitialized_t) : layers_(detail::make_uninitialized<Ls>()...) { assign_param_prefix({}); }

    template <class G>
    void initialize(G& g) {
        std::apply([&](auto&... layer) { (mindsave::initialize(layer, g), ...); }, layers_);
    }
    void set_train(bool training = true) {
        std::apply([&](auto&... layer) { (mindsave::set_train(layer, training), ...); }, layers_);
    }

    template <std::size_t I>
    auto& get() noexcept { return std::get<I>(layers_); }
    template <std::size_t I>
    const auto& get() const noexcept { return std::get<I>(layers_); }
    // The child named `Name`: its layer as a Cell, which also lists its parameters under its global
    // names (net.get<"head">().get_parameters(): head.dense.weight, ...).
    template <fixed_string Name>
    auto& get() noexcept {
        constexpr std::size_t index = index_of<Name>();
        static_assert(index < count, "Sequential::get<Name>: no child has that name");
        return std::get<index>(layers_).cell();
    }
    template <fixed_string Name>
    const auto& get() const noexcept {
        constexpr std::size_t index = index_of<Name>();
        static_assert(index < count, "Sequential::get<Name>: no child has that name");
        return std::get<index>(layers_).cell();
    }

    // MindSpore's parameter lists (see parameter_list.hpp), named from this network's place in an
    // enclosing one ("" at the top).
    std::vector<ParameterRef> get_parameters() { return mindsave::get_parameters(*this); }
    std::vector<ParameterRef> trainable_params() { return mindsave::trainable_params(*this); }
    std::vector<ParameterRef> untrainable_params() { return mindsave::untrainable_params(*this); }
    std::vector<std::pair<std::string, ParameterRef>> parameters_and_names(std::string_view name_prefix = {}) {
        return mindsave::parameters_and_names(*this, name_prefix);
    }
    std::string_view param_prefix() const noexcept { return prefix_.value; }
    // Called by the enclosing network, after this one was built (so the outermost assignment wins).
    void assign_param_prefix(std::string_view prefix) {
        prefix_.value = prefix;
        detail::for_each_index<count>([&](auto i) {
            auto& child = std::get<i.value>(layers_);
            if constexpr (detail::is_named<std::remove_cvref_t<decltype(child)>>::value) child.assign_param_prefix(prefix);
            else detail::assign_param_prefix(child, detail::join_path(prefix, detail::decimal(i.value)));
        });
    }

    template <class F>
    void visit_parameters(F&& f) {
        detail::for_each_index<count>([&](auto i) {
            auto& child = std::get<i.value>(layers_);
            if constexpr (detail::is_named<std::remove_cvref_t<decltype(child)>>::value) child.visit_parameters(f);
            else mindsave::visit_parameters(child, std::to_string(i.value), f);
        });
    }
    static constexpr void describe_parameters(SchemaBuilder& b) {
        detail::for_each_index<count>([&](auto i) {
            using Child = std::tuple_element_t<i.value, std::tuple<Ls...>>;
            if constexpr (detail::is_named<Child>::value) Child::describe_parameters(b);
            else b.child<Child>(detail::decimal(i.value));
        });
    }

    // A run of two or more SampleWise layers goes through in one parallel region, sample by sample
    // (LeNet's conv, relu, pool, conv, relu, pool, flatten): one hand-off instead of seven, and each
    // sample's activations still in cache for the next layer. Same results: every layer computes
    // each sample alone.
    void forward(const Tensor& x, Tensor& y) {
        inferred_ = false;
        std::size_t fused_until = 0;
        detail::for_each_index<count>([&](auto i) {
            constexpr std::size_t k = i.value, end = run_end(k);
            if constexpr (end - k >= 2 && (k == 0 || !sample_wise[k == 0 ? 0 : k - 1]))
                if (forward_run<k, end>(x, y)) fused_until = end;
            if (k >= fused_until) std::get<k>(layers_).forward(input_of(k, x), output_of(k, y));
        });
    }

    // Inference (inference.hpp): a layer that applies a PostOp in its stores (Conv2d), then a BatchNorm in
    // eval mode (and a ReLU), run as that one layer with the BatchNorm's scale and shift, giving forward's
    // bits; post goes to the last layer. Intermediate activations are not kept (a backward refuses).
    // With nothing to fuse this is forward, which keeps its per-sample regions (LeNet).
    static constexpr bool fuses_in_inference = [] {
        constexpr std::array<bool, count> stores{detail::stores_post<detail::unwrap_t<Ls>>...};
        constexpr std::array<bool, count> affine{ChannelAffine<detail::unwrap_t<Ls>>...};
        bool any = (detail::fuses_in_inference<detail::unwrap_t<Ls>> || ...);
        for (std::size_t k = 0; k + 1 < count; ++k) any = any || (stores[k] && affine[k + 1]);
        return any;
    }();

    void infer(const Tensor& x, Tensor& y, const PostOp* post) {
        if constexpr (!fuses_in_inference) {
            forward(x, y);
            if (post) apply_post(y, *post);
        } else {
            inferred_ = true;
            std::size_t next = 0;  // the first layer not yet run
            detail::for_each_index<count>([&](auto i) {
                constexpr std::size_t k = i.value;
                if (k < next) return;
                const PostOp* last_post = k + 1 == count ? post : nullptr;
                if constexpr (k + 1 < count) {
                    using Conv = detail::unwrap_t<std::tuple_element_t<k, std::tuple<Ls...>>>;
                    using Norm = detail::unwrap_t<std::tuple_element_t<k + 1, std::tuple<Ls...>>>;
                    if constexpr (detail::stores_post<Conv> && ChannelAffine<Norm>) {
                        PostOp own;
                        if (detail::unwrap_layer(std::get<k + 1>(layers_)).inference_affine(own.scale, own.shift)) {
                            constexpr bool relu = [] {
                                if constexpr (k + 2 < count)
                                    return detail::folds_as_relu<detail::unwrap_t<std::tuple_element_t<k + 2, std::tuple<Ls...>>>>;
                                else return false;
                            }();
                            constexpr std::size_t end = k + 2 + (relu ? 1 : 0);
                            own.relu = relu;
                            const PostOp* outer = end == count ? post : nullptr;
                            // the outer post joins in when it comes after: no scale of its own, no ReLU before it
                            const bool joins = outer && !outer->scale && !relu;
                            if (joins) {
                                own.add = outer->add;
                                own.relu = outer->relu;
                            }
                            Tensor& out = output_of(end - 1, y);
                            mindsave::infer(std::get<k>(layers_), input_of(k, x), out, &own);
                            if (outer && !joins) apply_post(out, *outer);
                            next = end;
                            return;
                        }
                    }
                }
                mindsave::infer(std::get<k>(layers_), input_of(k, x), output_of(k, y), last_post);
                next = k + 1;
            });
        }
    }

    // Intermediate activations from the last forward stay valid until the next one, so backward
    // hands each layer exactly what its forward saw.
    // A run of SampleWiseBackward layers (LeNet's flatten back to conv1) likewise shares one region,
    // each part taking its samples through every layer; weight gradients are combined after it.
    void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
        if (inferred_)
            throw ShapeError("Sequential::backward after infer (Model::predict, eval): inference keeps no activations; "
                             "call forward on the same input first");
        std::size_t fused_lo = 0, fused_hi = 0;
        detail::for_each_index_reversed<count>([&](auto i) {
            constexpr std::size_t k = i.value, begin = run_begin_backward(k);
            if constexpr (k + 1 - begin >= 2 && (k + 1 == count || !sample_wise_backward[k + 1 == count ? k : k + 1]))
                if (backward_run<begin, k + 1>(x, y, dy, dx)) {
                    fused_lo = begin;
                    fused_hi = k + 1;
                }
            if (k < fused_lo || k >= fused_hi)
                std::get<k>(layers_).backward(input_of(k, x), output_at(k, y), grad_out(k, dy), grad_in(k, dx));
        });
    }

private:
    static constexpr std::array<bool, count> sample_wise{SampleWise<Ls>...};
    // One past the last layer of the SampleWise run starting at k (k itself when layer k is not).
    static constexpr std::size_t run_end(std::size_t k) {
        while (k < count && sample_wise[k]) ++k;
        return k;
    }

    // Layers [Begin, End) in one region, false (nothing run) when one of them takes another path here.
    template <std::size_t Begin, std::size_t End>
    bool forward_run(const Tensor& x, Tensor& y) {
        bool ok = true;
        detail::for_each_index<End - Begin>([&](auto j) {
            constexpr std::size_t m = Begin + j.value;
            ok = ok && std::get<m>(layers_).prepare_samples(input_of(m, x), output_of(m, y));
        });
        if (!ok) return false;
        const Tensor& in = input_of(Begin, x);
        const std::size_t N = in.dimension() > 0 ? in.shape()[0] : 0;
        parallel_for(N, [&](std::size_t b, std::size_t e, std::size_t t) {
            for (std::size_t n = b; n < e; ++n)
                detail::for_each_index<End - Begin>([&](auto j) {
                    constexpr std::size_t m = Begin + j.value;
                    std::get<m>(layers_).forward_samples(input_of(m, x), output_of(m, y), n, n + 1, t);
                });
        });
        return true;
    }

    static constexpr std::array<bool, count> sample_wise_backward{SampleWiseBackward<Ls>...};
    // The first layer of the SampleWiseBackward run ending at k (k + 1 when layer k is not one).
    static constexpr std::size_t run_begin_backward(std::size_t k) {
        std::size_t b = k + 1;
        while (b > 0 && sample_wise_backward[b - 1]) --b;
        return b;
    }

    const Tensor& output_at(std::size_t k, const Tensor& y) const { return k + 1 == count ? y : acts_[k]; }
    const Tensor& grad_out(std::size_t k, const Tensor& dy) const { return k + 1 == count ? dy : grads_[k]; }
    Tensor* grad_in(std::size_t k, Tensor* dx) { return k == 0 ? dx : &grads_[k - 1]; }

    // Layers [Begin, End) backward in one region, false (nothing run) when one takes another path.
    template <std::size_t Begin, std::size_t End>
    bool backward_run(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
        bool ok = true;
        detail::for_each_index_reversed<End - Begin>([&](auto j) {
            constexpr std::size_t m = Begin + j.value;
            ok = ok && std::get<m>(layers_).prepare_backward_samples(input_of(m, x), output_at(m, y), grad_out(m, dy),
                                                                     grad_in(m, dx));
        });
        if (!ok) return false;
        const Tensor& in = input_of(Begin, x);
        const std::size_t N = in.dimension() > 0 ? in.shape()[0] : 0;
        parallel_for(N, [&](std::size_t b, std::size_t e, std::size_t t) {
            detail::for_each_index_reversed<End - Begin>([&](auto j) {
                constexpr std::size_t m = Begin + j.value;
                std::get<m>(layers_).backward_samples(input_of(m, x), output_at(m, y), grad_out(m, dy), grad_in(m, dx),
                                                      b, e, t);
            });
        });
        detail::for_each_index_reversed<End - Begin>([&](auto j) {
            constexpr std::size_t m = Begin + j.value;
            std::get<m>(layers_).finish_backward_samples(input_of(m, x), grad_out(m, dy));
        });
        return true;
    }

    template <fixed_string Name>
    static constexpr std::size_t index_of() {
        std::size_t index = count, i = 0;
        auto check = [&]<class L>(std::type_identity<L>) {
            if constexpr (detail::is_named<L>::value)
                if (L::name == Name.view() && index == count) index = i;
            ++i;
        };
        (check(std::type_identity<Ls>{}), ...);
        return index;
    }

    const Tensor& input_of(std::size_t k, const Tensor& x) const { return k == 0 ? x : acts_[k - 1]; }
    Tensor& output_of(std::size_t k, Tensor& y) { return k + 1 == count ? y : acts_[k]; }

    std::tuple<Ls...> layers_;
    detail::ParamPrefix prefix_;           // param_prefix(): this network's path in an enclosing one
    std::array<Tensor, count - 1> acts_;   // output of layer k, k < count - 1
    std::array<Tensor, count - 1> grads_;  // gradient w.r.t. acts_[k]
    bool inferred_ = false;                // the last pass was infer: acts_ are not forward's
};

}  // namespace mindsave
