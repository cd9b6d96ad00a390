// Traces a network type's forward composition into an OpGraph for export: each layer type has an
// export_rule saying which ops it becomes; a layer without one is a compile-time error naming it.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mindsave/core/cell_name.hpp"
#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/op_graph.hpp"
#include "mindsave/nn/sequential.hpp"

namespace mindsave::graph {

template <class>
inline constexpr bool dependent_false = false;

// Specialise export_rule<L> for a layer of your own: a static trace(Tracer&, L&, input value, Path)
// that adds its ops and returns its output value (see the rules in graph/rules.hpp).
template <class L>
struct export_rule {
    using unsupported = void;  // marks "no rule": trace_layer turns it into a static_assert naming L
};

// Where a layer sits: the dotted prefix of its parameters and its MindSpore scope.
struct Path {
    std::string params;  // "backbone.layer1.0" ("" at the top)
    std::string scope;   // "Default/backbone-ResNet/layer1-SequentialCell/0-ResidualBlock"

    Path child(std::string_view name, std::string_view cell) const {
        Path p;
        p.params = params.empty() ? std::string(name) : params + "." + std::string(name);
        p.scope = scope + "/" + std::string(name) + "-" + std::string(cell);
        return p;
    }
};

class Tracer {
public:
    explicit Tracer(OpGraph& graph) : g_(graph) {}

    std::size_t input(std::string name, Shape shape) {
        const auto v = g_.add_value({OpValue::Role::input, std::move(name), DType::Float32, std::move(shape)});
        g_.inputs.push_back(v);
        return v;
    }

    // The layer's parameters (visited under path.params) as graph values, in visit order.
    template <class L>
    std::vector<std::size_t> parameters(L& layer, const Path& path) {
        std::vector<std::size_t> ids;
        visit_parameters(layer, path.params, [&](std::string_view name, auto& p) {
            const TensorView v = view_of(p);
            const auto id = g_.add_value({OpValue::Role::parameter, std::string(name), v.dtype, v.shape});
            g_.parameters.push_back(id);
            ids.push_back(id);
        });
        return ids;
    }

    std::size_t add(OpKind op, std::vector<std::size_t> inputs, Shape out, std::string scope) {
        const auto v = g_.add_value({OpValue::Role::intermediate, {}, DType::Float32, std::move(out)});
        g_.nodes.push_back({std::move(op), std::move(inputs), v, std::move(scope)});
        return v;
    }

    // Copies: a reference into the graph's values would dangle once a rule adds its parameters.
    Shape shape(std::size_t v) const { return g_.value(v).shape; }

    // Checks that value v is [N, C, H, W] (rank 4) or has the rank a layer needs, naming the layer.
    Shape expect_rank(std::size_t v, std::size_t rank, const Path& where) const {
        Shape s = shape(v);
        if (s.size() != rank)
            throw ShapeError("export: " + where.scope + " expects a rank-" + std::to_string(rank) + " input, got " +
                             shape_string(s) + "; check the input shape given to export_model");
        return s;
    }

private:
    OpGraph& g_;
};

template <class L>
std::size_t trace_layer(Tracer& t, L& layer, std::size_t x, const Path& path);

namespace detail {
template <class L>
struct sequential_traits : std::false_type {};
template <class... Ls>
struct sequential_traits<Sequential<Ls...>> : std::true_type {
    static constexpr std::size_t size = sizeof...(Ls);
};

}  // namespace detail

// Named: the child's attribute name. Sequential: children in order, unnamed ones by index.
// Anything else: its export_rule.
template <class L>
std::size_t trace_layer(Tracer& t, L& layer, std::size_t x, const Path& path) {
    if constexpr (mindsave::detail::is_cell<L>::value) {  // a child exported on its own: net.get<"head">()
        return trace_layer(t, static_cast<typename mindsave::detail::is_cell<L>::layer&>(layer), x, path);
    } else if constexpr (mindsave::detail::is_named<L>::value) {
        using Inner = typename L::layer_type;
        return trace_layer(t, layer.layer(), x, path.child(L::name, cell_name<Inner>));
    } else if constexpr (detail::sequential_traits<L>::value) {
        mindsave::detail::for_each_index<detail::sequential_traits<L>::size>([&](auto i) {
            auto& child = layer.template get<i.value>();
            using C = std::remove_cvref_t<decltype(child)>;
            if constexpr (mindsave::detail::is_named<C>::value) x = trace_layer(t, child, x, path);
            else x = trace_layer(t, child, x, path.child(std::to_string(i.value), cell_name<C>));
        });
        return x;
    } else if constexpr (requires { typename export_rule<L>::unsupported; }) {
        static_assert(dependent_false<L>,
                      "mindsave::export_model: a layer type has no export rule; it is the 'L' of this "
                      "trace_layer instantiation. Specialise mindsave::graph::export_rule<L> for it "
                      "(graph/rules.hpp shows how) or leave it out of the exported network.");
        return x;
    } else {
        return export_rule<L>::trace(t, layer, x, path);
    }
}

// A network type that takes several inputs gives its export_rule a trace over a span of inputs
// returning its outputs; one-input layers are traced as above.
template <class Net>
concept MultiInputExport = requires(Tracer& t, Net& n, std::span<const std::size_t> xs, const Path& p) {
    { export_rule<Net>::trace_inputs(t, n, xs, p) } -> std::same_as<std::vector<std::size_t>>;
};

// The inference graph of net for inputs of the given shapes (float32), named after its cell.
template <class Net>
OpGraph trace(Net& net, std::span<const Shape> input_shapes, std::string cell_name) {
    OpGraph g;
    g.name = std::move(cell_name);
    Tracer t(g);
    std::vector<std::size_t> xs;
    for (std::size_t i = 0; i < input_shapes.size(); ++i)
        xs.push_back(t.input(std::string("x").append(i == 0 ? "" : std::to_string(i)), input_shapes[i]));  // (GCC 12 -O3 -Wrestrict dislikes "x" + ...)
    const Path top{"", "Default"};
    if constexpr (MultiInputExport<Net>) {
        g.outputs = export_rule<Net>::trace_inputs(t, net, xs, top);
    } else {
        if (xs.size() != 1)
            throw ShapeError("export: " + g.name + " takes one input, but " + std::to_string(xs.size()) +
                             " input shapes were given");
        g.outputs.push_back(trace_layer(t, net, xs.front(), top));
    }
    return g;
}

}  // namespace mindsave::graph
