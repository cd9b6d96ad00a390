// {prefix}-graph.meta: the training step as MindSpore's anf_ir ModelProto (docs/formats.md section 6), traced from
// the network type: parameters with types and shapes, forward, loss, gradient and optimizer nodes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/graph/anf_ir_fields.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/proto_builder.hpp"
#include "mindsave/nn/activation.hpp"
#include "mindsave/nn/conv2d.hpp"
#include "mindsave/nn/dense.hpp"
#include "mindsave/nn/pooling.hpp"
#include "mindsave/nn/sequential.hpp"
#include "mindsave/core/cell_name.hpp"

namespace mindsave::graph {

// One primitive of a layer, forward or backward, as MindSpore names it.
struct AnfOp {
    std::string op_type;
    std::string scope;  // e.g. Default/network-WithLossCell/_backbone-LeNet5/conv1-Conv2d
};

// anf_layer<L> says which primitives a layer becomes. A network with a layer that has none is not
// traceable: ModelCheckpoint then writes no graph file, as MindSpore writes none in PyNative mode.
template <class L>
struct anf_layer {};
template <std::size_t I, std::size_t O, std::size_t K, PadMode M, std::size_t S, std::size_t P, bool B, class W, class BI>
struct anf_layer<Conv2d<I, O, K, M, S, P, B, W, BI>> {
    static std::vector<std::string> forward() { return B ? std::vector<std::string>{"Conv2D", "BiasAdd"} : std::vector<std::string>{"Conv2D"}; }
    static std::vector<std::string> backward(bool first) {
        std::vector<std::string> ops;
        if (B) ops.push_back("BiasAddGrad");
        if (!first) ops.push_back("Conv2DBackpropInput");
        ops.push_back("Conv2DBackpropFilter");
        return ops;
    }
};
template <std::size_t I, std::size_t O, class W, bool B, class BI>
struct anf_layer<Dense<I, O, W, B, BI>> {
    static std::vector<std::string> forward() { return B ? std::vector<std::string>{"MatMul", "BiasAdd"} : std::vector<std::string>{"MatMul"}; }
    static std::vector<std::string> backward(bool first) {
        std::vector<std::string> ops;
        if (B) ops.push_back("BiasAddGrad");
        if (!first) ops.push_back("MatMul");
        ops.push_back("MatMul");
        return ops;
    }
};
template <>
struct anf_layer<ReLU> {
    static std::vector<std::string> forward() { return {"ReLU"}; }
    static std::vector<std::string> backward(bool) { return {"ReluGrad"}; }
};
template <std::size_t K, std::size_t S>
struct anf_layer<MaxPool2d<K, S>> {
    static std::vector<std::string> forward() { return {"MaxPool"}; }
    static std::vector<std::string> backward(bool) { return {"MaxPoolGrad"}; }
};
template <>
struct anf_layer<Flatten> {
    static std::vector<std::string> forward() { return {"Flatten"}; }
    static std::vector<std::string> backward(bool) { return {"Reshape"}; }
};

template <class L>
struct traceable : std::bool_constant<requires { anf_layer<L>::forward(); }> {};
template <fixed_string N, class L>
struct traceable<Named<N, L>> : traceable<L> {};
template <class L>
struct traceable<Cell<L>> : traceable<L> {};
template <class... Ls>
struct traceable<Sequential<Ls...>> : std::bool_constant<(traceable<Ls>::value && ...)> {};
template <class Net>
concept Traceable = traceable<Net>::value;

namespace detail {

// Walks a network type in forward order, collecting (forward ops, backward ops) with MindSpore scopes.
struct Trace {
    std::vector<AnfOp> forward, backward;  // backward in forward order; emitted reversed
    bool first = true;

    template <class L>
    void add(const std::string& scope, std::string_view name) {
        if constexpr (mindsave::detail::is_cell<L>::value) {  // a child trained on its own
            add<typename mindsave::detail::is_cell<L>::layer>(scope, name);
        } else if constexpr (requires { typename L::layer_type; }) {  // Named<"conv1", Conv2d<...>>
            add<typename L::layer_type>(scope, L::name);
        } else if constexpr (requires { anf_layer<L>::forward(); }) {
            const std::string s = scope + "/" + std::string(name) + "-" + std::string(cell_name<L>);
            for (auto& op : anf_layer<L>::forward()) forward.push_back({op, s});
            auto back = anf_layer<L>::backward(first);
            for (auto it = back.rbegin(); it != back.rend(); ++it) backward.push_back({*it, "Gradients/" + s});
            first = false;
        } else {
            add_sequence(scope, name, static_cast<L*>(nullptr));
        }
    }
    template <class... Ls>
    void add_sequence(const std::string& scope, std::string_view name, Sequential<Ls...>*) {
        const std::string s = name.empty() ? scope : scope + "/" + std::string(name) + "-" + std::string(cell_name<Sequential<Ls...>>);
        std::size_t i = 0;
        auto one = [&]<class L>(std::type_identity<L>) {
            if constexpr (mindsave::detail::is_named<L>::value) add<L>(s, L::name);
            else add<L>(s, std::to_string(i));
            ++i;
        };
        (one(std::type_identity<Ls>{}), ...);
    }
};

// anf_ir DataType: not MindIR's numbering.
inline std::uint64_t anf_dtype(DType t) {
    switch (t) {
        case DType::Bool: return 1;
        case DType::Int8: return 2;
        case DType::Int16: return 3;
        case DType::Int32: return 4;
        case DType::Int64: return 5;
        case DType::UInt8: return 6;
        case DType::UInt16: return 7;
        case DType::UInt32: return 8;
        case DType::UInt64: return 9;
        case DType::Float16: return 10;
        case DType::Float32: return 11;
        case DType::Float64: return 12;
        case DType::BFloat16: return 46;
    }
    return 0;
}

// A TypeProto {DT_TENSOR, tensor_type {elem_type, shape}}.
inline io::ProtoBuilder tensor_type(DType t, const Shape& shape) {
    using namespace proto::anf_ir;
    io::ProtoBuilder dims;
    for (auto d : shape) dims.message(TensorShapeProto::dim, io::ProtoBuilder().varint(TensorShapeProto_Dimension::size, d));
    const auto tensor = io::ProtoBuilder().varint(TypeProto_Tensor::elem_type, anf_dtype(t)).message(TypeProto_Tensor::shape, dims);
    return io::ProtoBuilder().varint(TypeProto::data_type, 14 /* DT_TENSOR */).message(TypeProto::tensor_type, tensor);
}

}  // namespace detail

// The anf_ir ModelProto bytes of one training step of Net with a loss and the named parameters of
// the train network (network, then optimizer), for inputs of the given shapes.
template <class Net, HasParameters Train>
std::string training_graph_meta(Train& train, std::string_view net_name, std::string_view loss_name,
                                std::string_view optimizer_name, const Shape& input_shape, const Shape& label_shape) {
    using namespace proto::anf_ir;
    detail::Trace trace;
    const std::string backbone = "Default/network-WithLossCell/_backbone-" + std::string(net_name);
    trace.add_sequence(backbone, "", static_cast<Net*>(nullptr));

    struct Param {
        std::string name;
        DType dtype;
        Shape shape;
        bool trainable;
    };
    std::vector<Param> params;
    visit_parameters(train, [&](std::string_view name, auto& p) {
        const auto v = view_of(p);
        params.push_back({std::string(name), v.dtype, v.shape, is_parameter<std::remove_cvref_t<decltype(p)>>::value});
    });

    io::ProtoBuilder graph;
    std::size_t id = 0;
    std::string previous = "inputs0";
    auto node = [&](const std::string& op, const std::string& scope, const std::vector<std::string>& inputs) {
        io::ProtoBuilder n;
        for (const auto& in : inputs)
            n.message(NodeProto::input, io::ProtoBuilder().string(InputProto::name, in).varint(InputProto::type, 0));  // DATA_EDGE
        const std::string name = std::to_string(++id);
        n.string(NodeProto::name, name).string(NodeProto::op_type, op).string(NodeProto::scope, scope)
            .string(NodeProto::full_name, scope + "/" + op + "-op" + name);
        graph.message(GraphProto::node, n);
        return name;
    };
    for (const auto& op : trace.forward) previous = node(op.op_type, op.scope, {previous});
    const std::string loss_scope = "Default/network-WithLossCell/_loss_fn-" + std::string(loss_name);
    previous = node("SparseSoftmaxCrossEntropyWithLogits", loss_scope, {previous, "inputs1"});
    const std::string loss_node = previous;
    previous = node("SparseSoftmaxCrossEntropyWithLogits", "Gradients/" + loss_scope, {previous, "inputs1"});
    for (auto it = trace.backward.rbegin(); it != trace.backward.rend(); ++it)
        previous = node(it->op_type, it->scope, {previous});
    const std::string opt_scope = "Default/optimizer-" + std::string(optimizer_name);
    for (const auto& p : params)
        if (p.trainable) node("ApplyMomentum", opt_scope, {p.name, "moments." + p.name, "learning_rate", previous, "momentum"});
    graph.string(GraphProto::name, std::to_string(id + 1) + "_construct.Default");
    auto parameter = [&](std::string_view name, DType dtype, const Shape& shape) {
        graph.message(GraphProto::parameters, io::ProtoBuilder().string(ParameterProto::name, name)
                                                  .message(ParameterProto::type, detail::tensor_type(dtype, shape)));
    };
    parameter("inputs0", DType::Float32, input_shape);
    parameter("inputs1", DType::Int32, label_shape);
    for (const auto& p : params) parameter(p.name, p.dtype, p.shape);
    graph.message(GraphProto::outputs, io::ProtoBuilder().string(OutputProto::name, loss_node));
    return io::ProtoBuilder().varint(ModelProto::ir_version, 1).message(ModelProto::graph, graph).str();
}

// Writes bytes to path atomically (replacing an earlier graph file, as MindSpore does).
inline void write_graph_meta(const std::filesystem::path& path, const std::string& bytes) {
    io::AtomicFile file(path);
    file.write(std::as_bytes(std::span(bytes.data(), bytes.size())));
    file.commit(0400);
}

}  // namespace mindsave::graph
