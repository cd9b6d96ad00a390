// Lowers an OpGraph to MindIR's GraphProto and primitives table in MindSpore 2.x "REF::" style
// (docs/formats.md section 5.3): Load of each weight, primitives with MindSpore's attributes, shape attributes.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mindsave/core/op_graph.hpp"
#include "mindsave/formats/mindir_fields.hpp"
#include "mindsave/formats/model_common.hpp"
#include "mindsave/io/proto_builder.hpp"

namespace mindsave::format::detail {

// AttributeProto.type values used here (mind_ir.proto's AttributeType).
enum MindirAttrType : std::uint64_t {
    attr_float = 1, attr_int64 = 7, attr_string = 8, attr_bool = 9, attr_tensors = 19, attr_tuple = 20,
    attr_list = 21, attr_umonad = 23
};

inline io::ProtoBuilder mindir_attr(std::string_view name) {
    using proto::mindir::AttributeProto;
    io::ProtoBuilder a;
    a.string(AttributeProto::name, name);
    return a;
}
inline io::ProtoBuilder mindir_int(std::string_view name, std::int64_t v, MindirAttrType type = attr_int64) {
    using proto::mindir::AttributeProto;
    return mindir_attr(name).int64(AttributeProto::i, v).varint(AttributeProto::type, type);
}
inline io::ProtoBuilder mindir_float(std::string_view name, float v) {
    using proto::mindir::AttributeProto;
    return mindir_attr(name).float32(AttributeProto::f, v).varint(AttributeProto::type, attr_float);
}
inline io::ProtoBuilder mindir_string(std::string_view name, std::string_view s) {
    using proto::mindir::AttributeProto;
    return mindir_attr(name).string(AttributeProto::s, s).varint(AttributeProto::type, attr_string);
}
// A sequence attribute (a tuple or a list): each element an AttributeProto of its own in `values`.
template <class Values, class Element>
io::ProtoBuilder mindir_sequence(std::string_view name, MindirAttrType type, const Values& values, Element element) {
    using proto::mindir::AttributeProto;
    io::ProtoBuilder a = mindir_attr(name);
    a.varint(AttributeProto::type, type);
    for (const auto& v : values) a.message(AttributeProto::values, element(v));
    return a;
}
// A tuple of int64, each value in its element's `ints`.
inline io::ProtoBuilder mindir_ints(std::string_view name, std::span<const std::int64_t> values) {
    using proto::mindir::AttributeProto;
    return mindir_sequence(name, attr_tuple, values, [](std::int64_t v) {
        return io::ProtoBuilder().int64(AttributeProto::ints, v).varint(AttributeProto::type, attr_int64);
    });
}
// A list of strings, each in its element's `strings`.
inline io::ProtoBuilder mindir_names(std::string_view name, std::initializer_list<std::string_view> names) {
    using proto::mindir::AttributeProto;
    return mindir_sequence(name, attr_list, names, [](std::string_view n) {
        return io::ProtoBuilder().string(AttributeProto::strings, n).varint(AttributeProto::type, attr_string);
    });
}
// A TensorProto with dims and data_type only: a value's abstract, or a weight before its data.
inline io::ProtoBuilder mindir_tensor_type(DType dtype, const Shape& shape) {
    using proto::mindir::TensorProto;
    io::ProtoBuilder t;
    for (auto d : shape) t.int64(TensorProto::dims, static_cast<std::int64_t>(d));
    return t.varint(TensorProto::data_type, static_cast<std::uint64_t>(tensor_proto_dtype(dtype)));
}

// Builds the main graph node by node; ids count nodes and primitives together, as MindSpore's do.
class MindirEmitter {
public:
    MindirEmitter(const OpGraph& g, std::string graph_name) : g_(g), name_(std::move(graph_name)) {
        value_names_.resize(g.values.size());
        loaded_.resize(g.values.size());
        for (std::size_t i = 0; i < g.values.size(); ++i)
            if (g.values[i].role != OpValue::Role::intermediate) value_names_[i] = name_ + ":" + g.values[i].name;
    }

    // The GraphProto (without parameters, which the caller adds) and the primitives it refers to.
    void emit(io::ProtoBuilder& graph, std::vector<io::ProtoBuilder>& primitives) {
        graph_ = &graph;
        prims_ = &primitives;
        if (!g_.parameters.empty()) {
            monad_ = "[ValueNode]" + std::to_string(next());
            graph.message(GraphProto::node, io::ProtoBuilder().string(NodeProto::output, monad_).string(NodeProto::name, monad_)
                                                .string(NodeProto::op_type, "Constant")
                                                .message(NodeProto::attribute, mindir_attr("value").varint(AttributeProto::type, attr_umonad)));
            load_prim_ = primitive("Load", {});
        }
        for (const auto& n : g_.nodes) std::visit([&](const auto& op) { lower(op, n); }, n.op);

        std::vector<std::string> outs;
        for (auto o : g_.outputs) outs.push_back(value_names_[o]);
        std::string result = outs.front();
        if (outs.size() > 1) result = node("MakeTuple", primitive("MakeTuple", {}), outs, tuple_shape(g_.outputs), "Default");
        if (!loads_.empty()) {  // side effects of the weight loads are tied to the result, as MindSpore's are
            const auto tuple = node("MakeTuple", primitive("MakeTuple", {}), loads_, tuple_shape(loaded_order_), "Default");
            const auto state = node("UpdateState", primitive("UpdateState", {}), {monad_, tuple},
                                    mindir_attr("shape").varint(AttributeProto::type, attr_umonad), "Default");
            result = node("Depend", primitive("Depend", {mindir_int("side_effect_propagate", 1)}), {result, state},
                          outs.size() > 1 ? tuple_shape(g_.outputs) : shape_attr(g_.outputs.front()), "Default");
        }
        graph.string(GraphProto::name, name_);
        for (auto i : g_.inputs)
            graph.message(GraphProto::input, io::ProtoBuilder().string(ValueInfoProto::name, value_names_[i])
                                                 .message(ValueInfoProto::tensor, mindir_tensor_type(g_.value(i).dtype, g_.value(i).shape)));
        io::ProtoBuilder out;
        out.string(ValueInfoProto::name, result);
        for (auto o : g_.outputs) out.message(ValueInfoProto::tensor, mindir_tensor_type(g_.value(o).dtype, g_.value(o).shape));
        graph.message(GraphProto::output, out);
        graph.string(GraphProto::bprop_hash, "");
        graph.string(GraphProto::bprop_filepath, "");
    }

    const std::string& graph_name() const noexcept { return name_; }

private:
    using GraphProto = proto::mindir::GraphProto;
    using NodeProto = proto::mindir::NodeProto;
    using ValueInfoProto = proto::mindir::ValueInfoProto;
    using AttributeProto = proto::mindir::AttributeProto;
    using PrimitiveProto = proto::mindir::PrimitiveProto;

    std::uint64_t next() { return id_++; }

    // A primitive entry "<Op>:<id>" with the given attributes; returns its name.
    std::string primitive(std::string_view op, std::initializer_list<io::ProtoBuilder> attrs,
                          const std::optional<io::ProtoBuilder>& extra = std::nullopt) {
        const std::string name = std::string(op) + ":" + std::to_string(next());
        io::ProtoBuilder p;
        p.string(PrimitiveProto::name, name).string(PrimitiveProto::op_type, op);
        for (const auto& a : attrs) p.message(PrimitiveProto::attribute, a);
        if (extra) p.message(PrimitiveProto::attribute, *extra);
        prims_->push_back(std::move(p));
        return name;
    }

    io::ProtoBuilder shape_attr(std::size_t v) const {
        return mindir_attr("shape")
            .message(AttributeProto::tensors, mindir_tensor_type(g_.value(v).dtype, g_.value(v).shape))
            .varint(AttributeProto::type, attr_tensors);
    }
    io::ProtoBuilder tuple_shape(std::span<const std::size_t> vs) const {
        io::ProtoBuilder a = mindir_attr("shape");
        a.varint(AttributeProto::type, attr_tuple);
        for (auto v : vs)
            a.message(AttributeProto::values,
                      io::ProtoBuilder()
                          .message(AttributeProto::tensors, mindir_tensor_type(g_.value(v).dtype, g_.value(v).shape))
                          .varint(AttributeProto::type, attr_tensors));
        return a;
    }

    // A CNode: "<graph>:CNode_<id>:<id>", op_type "REF::<prim>", domain "<scope>/<Op>-op<k>".
    std::string node(std::string_view op, const std::string& prim, const std::vector<std::string>& inputs,
                     const io::ProtoBuilder& shape, std::string_view scope) {
        const auto id = next();
        const std::string name = name_ + ":CNode_" + std::to_string(id) + ":" + std::to_string(id);
        io::ProtoBuilder n;
        for (const auto& in : inputs) n.string(NodeProto::input, in);
        n.string(NodeProto::output, name).string(NodeProto::name, name).string(NodeProto::op_type, "REF::" + prim)
            .message(NodeProto::attribute, shape);
        n.string(NodeProto::domain, std::string(scope) + "/" + std::string(op) + "-op" + std::to_string(op_count_++));
        graph_->message(GraphProto::node, n);
        return name;
    }

    // A value's name as an input: parameters go through Load(param, U) once, at first use.
    std::string use(std::size_t v) {
        const OpValue& val = g_.value(v);
        if (val.role == OpValue::Role::parameter && !loaded_[v]) {
            value_names_[v] = node("Load", load_prim_, {value_names_[v], monad_}, shape_attr(v), "Default");
            loads_.push_back(value_names_[v]);
            loaded_order_.push_back(v);
            loaded_[v] = true;
        }
        return value_names_[v];
    }
    std::vector<std::string> uses(const std::vector<std::size_t>& vs) {
        std::vector<std::string> out;
        for (auto v : vs) out.push_back(use(v));
        return out;
    }
    // A constant node (tuple of int64 or a scalar int64), named "<graph>:ValueNode_<id>".
    std::string constant(const io::ProtoBuilder& value) {
        const std::string name = name_ + ":ValueNode_" + std::to_string(next());
        graph_->message(GraphProto::node, io::ProtoBuilder().string(NodeProto::output, name).string(NodeProto::name, name)
                                              .string(NodeProto::op_type, "Constant").message(NodeProto::attribute, value));
        return name;
    }

    void finish(const OpNode& n, const std::string& name) { value_names_[n.output] = name; }
    // Adds BiasAdd(x, b) after a Conv2D or MatMul that has a bias input.
    std::string bias_add(const OpNode& n, std::string x) {
        if (n.inputs.size() < 3) return x;
        const auto prim = primitive("BiasAdd", {mindir_string("format", "NCHW"), mindir_string("data_format", "NCHW"),
                                                mindir_names("input_names", {"x", "b"}), mindir_names("output_names", {"output"})});
        return node("BiasAdd", prim, {x, use(n.inputs[2])}, shape_attr(n.output), n.scope);
    }

    static std::string_view pad_mode(PadMode p, bool upper) {
        switch (p) {
            case PadMode::same: return upper ? "SAME" : "same";
            case PadMode::valid: return upper ? "VALID" : "valid";
            case PadMode::pad: return upper ? "PAD" : "pad";
        }
        return "valid";
    }

    void lower(const op::Conv& c, const OpNode& n) {
        const std::int64_t pad4[] = {c.pads[0], c.pads[1], c.pads[2], c.pads[3]};
        const std::int64_t stride[] = {1, 1, c.stride[0], c.stride[1]}, dilation[] = {1, 1, 1, 1};
        const std::int64_t explicit_pad[] = {c.padding == PadMode::pad ? c.pads[0] : 0, c.padding == PadMode::pad ? c.pads[1] : 0,
                                             c.padding == PadMode::pad ? c.pads[2] : 0, c.padding == PadMode::pad ? c.pads[3] : 0};
        const auto prim = primitive(
            "Conv2D", {mindir_ints("kernel_size", c.kernel), mindir_int("mode", 1), mindir_int("out_channel", c.out_channels),
                       mindir_names("input_names", {"x", "w"}), mindir_ints("pad", explicit_pad),
                       mindir_string("pad_mode", pad_mode(c.padding, false)), mindir_string("format", "NCHW"),
                       mindir_ints("pad_list", pad4), mindir_int("groups", 1), mindir_ints("stride", stride),
                       mindir_int("group", 1), mindir_ints("dilation", dilation), mindir_names("output_names", {"output"})});
        const auto conv = node("Conv2D", prim, {use(n.inputs[0]), use(n.inputs[1])}, shape_attr(n.output), n.scope);
        finish(n, bias_add(n, conv));
    }
    void lower(const op::Dense&, const OpNode& n) {
        const auto prim = primitive("MatMul", {mindir_names("output_names", {"output"}), mindir_int("transpose_a", 0, attr_bool),
                                               mindir_names("input_names", {"x1", "x2"}), mindir_int("transpose_x2", 1, attr_bool),
                                               mindir_int("transpose_x1", 0, attr_bool), mindir_int("transpose_b", 1, attr_bool)});
        const auto mm = node("MatMul", prim, {use(n.inputs[0]), use(n.inputs[1])}, shape_attr(n.output), n.scope);
        finish(n, bias_add(n, mm));
    }
    void lower(const op::Relu&, const OpNode& n) {
        const auto prim = primitive("ReLU", {mindir_names("output_names", {"output"}), mindir_names("input_names", {"x"})});
        finish(n, node("ReLU", prim, uses(n.inputs), shape_attr(n.output), n.scope));
    }
    template <class Pool>
    void pool(std::string_view op, const Pool& p, const OpNode& n) {
        const std::int64_t kernel[] = {1, 1, p.kernel[0], p.kernel[1]}, strides[] = {1, 1, p.stride[0], p.stride[1]};
        const std::int64_t pads[] = {p.pads[0], p.pads[1], p.pads[2], p.pads[3]};
        const auto attrs = {mindir_string("pad_mode", pad_mode(p.padding, true)), mindir_names("output_names", {"output"}),
                            mindir_ints("kernel_size", kernel), mindir_string("format", "NCHW"),
                            mindir_ints("strides", strides), mindir_names("input_names", {"x"})};
        // explicit padding is the one case that needs the pad list (MindSpore's "PAD" pooling)
        const auto prim = p.padding == PadMode::pad ? primitive(op, attrs, mindir_ints("pad_list", pads)) : primitive(op, attrs);
        finish(n, node(op, prim, uses(n.inputs), shape_attr(n.output), n.scope));
    }
    void lower(const op::MaxPool& p, const OpNode& n) { pool("MaxPool", p, n); }
    void lower(const op::AvgPool& p, const OpNode& n) { pool("AvgPool", p, n); }
    void lower(const op::GlobalAvgPool& p, const OpNode& n) {
        const std::int64_t axes[] = {2, 3};
        const auto prim = primitive("ReduceMean", {mindir_int("keep_dims", p.keep_dims ? 1 : 0, attr_bool),
                                                   mindir_names("input_names", {"input_x", "axis"}), mindir_names("output_names", {"y"})});
        const auto axis = constant(mindir_ints("value", axes));
        finish(n, node("ReduceMean", prim, {use(n.inputs[0]), axis}, shape_attr(n.output), n.scope));
    }
    void lower(const op::Flatten&, const OpNode& n) {
        const auto prim = primitive("Flatten", {mindir_names("input_names", {"input_x"}), mindir_names("output_names", {"output"})});
        finish(n, node("Flatten", prim, uses(n.inputs), shape_attr(n.output), n.scope));
    }
    void lower(const op::BatchNorm& b, const OpNode& n) {
        // MindSpore's BatchNorm primitive takes 1 - momentum of nn.BatchNorm2d, and returns a 5-tuple.
        const auto prim = primitive("BatchNorm", {mindir_int("is_training", 0, attr_bool), mindir_float("epsilon", b.epsilon),
                                                  mindir_float("momentum", 1.0f - b.momentum), mindir_string("format", "NCHW"),
                                                  mindir_string("data_format", "NCHW"),
                                                  mindir_names("input_names", {"x", "scale", "offset", "mean", "variance"}),
                                                  mindir_names("output_names", {"y", "batch_mean", "batch_variance",
                                                                                "reserve_space_1", "reserve_space_2"})});
        const std::size_t tuple_ids[] = {n.output, n.inputs[1], n.inputs[1], n.inputs[1], n.inputs[1]};
        const auto bn = node("BatchNorm", prim, uses(n.inputs), tuple_shape(tuple_ids), n.scope);
        const auto index = constant(mindir_int("value", 0));
        const auto get = primitive("TupleGetItem", {});
        finish(n, node("TupleGetItem", get, {bn, index}, shape_attr(n.output), n.scope));
    }
    void lower(const op::Add&, const OpNode& n) {
        const auto prim = primitive("Add", {mindir_names("input_names", {"x", "y"}), mindir_names("output_names", {"output"})});
        finish(n, node("Add", prim, uses(n.inputs), shape_attr(n.output), n.scope));
    }
    void lower(const op::Softmax& s, const OpNode& n) {
        const std::int64_t axis[] = {s.axis};
        const auto prim = primitive("Softmax", {mindir_ints("axis", axis), mindir_names("input_names", {"x"}),
                                                mindir_names("output_names", {"output"})});
        finish(n, node("Softmax", prim, uses(n.inputs), shape_attr(n.output), n.scope));
    }

    const OpGraph& g_;
    std::string name_;
    io::ProtoBuilder* graph_ = nullptr;
    std::vector<io::ProtoBuilder>* prims_ = nullptr;
    std::vector<std::string> value_names_, loads_;
    std::vector<std::size_t> loaded_order_;
    std::vector<bool> loaded_;
    std::string monad_, load_prim_;
    std::uint64_t id_ = 1;
    std::size_t op_count_ = 0;
};

}  // namespace mindsave::format::detail
