// format::onnx: an ONNX ModelProto (opset 13) written from an OpGraph, weights as raw_data initializers
// or, past a threshold, in one external data file; read back as named parameter records.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mindsave/core/byte_count.hpp"
#include "mindsave/core/endian.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/op_graph.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/formats/concepts.hpp"
#include "mindsave/formats/model_common.hpp"
#include "mindsave/formats/onnx_fields.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/proto_builder.hpp"
#include "mindsave/io/protobuf_wire.hpp"

namespace mindsave::format {

struct OnnxWriteOptions {
    // Weights above this many bytes in all go to "<file>.data": protobuf caps a message at 2 GiB.
    std::size_t external_data_threshold = (std::size_t{2} << 30) - (std::size_t{16} << 20);
    std::size_t external_min_tensor_bytes = 1024;  // smaller tensors stay inline, as onnx's own saver does
    std::int64_t opset = 13;
};
struct OnnxReadOptions {};  // ONNX carries no checksum: load_checkpoint's crc_check has nothing to check

namespace detail {

// AttributeProto.type values used here (onnx.proto's AttributeType).
enum OnnxAttrType : std::uint64_t { onnx_attr_float = 1, onnx_attr_int = 2, onnx_attr_string = 3, onnx_attr_ints = 7 };

inline io::ProtoBuilder onnx_int(std::string_view name, std::int64_t v) {
    using proto::onnx::AttributeProto;
    io::ProtoBuilder a;
    return a.string(AttributeProto::name, name).int64(AttributeProto::i, v).varint(AttributeProto::type, onnx_attr_int);
}
inline io::ProtoBuilder onnx_float(std::string_view name, float v) {
    using proto::onnx::AttributeProto;
    io::ProtoBuilder a;
    return a.string(AttributeProto::name, name).float32(AttributeProto::f, v).varint(AttributeProto::type, onnx_attr_float);
}
inline io::ProtoBuilder onnx_string(std::string_view name, std::string_view s) {
    using proto::onnx::AttributeProto;
    io::ProtoBuilder a;
    return a.string(AttributeProto::name, name).string(AttributeProto::s, s).varint(AttributeProto::type, onnx_attr_string);
}
inline io::ProtoBuilder onnx_ints(std::string_view name, std::span<const std::int64_t> v) {
    using proto::onnx::AttributeProto;
    io::ProtoBuilder a;
    a.string(AttributeProto::name, name);
    for (auto x : v) a.int64(AttributeProto::ints, x);
    return a.varint(AttributeProto::type, onnx_attr_ints);
}
inline io::ProtoBuilder onnx_value_info(std::string_view name, const OpValue& v) {
    using namespace proto::onnx;
    io::ProtoBuilder shape;
    for (auto d : v.shape)
        shape.message(TensorShapeProto::dim,
                      io::ProtoBuilder().int64(TensorShapeProto_Dimension::dim_value, static_cast<std::int64_t>(d)));
    io::ProtoBuilder tensor;
    tensor.varint(TypeProto_Tensor::elem_type, static_cast<std::uint64_t>(tensor_proto_dtype(v.dtype)))
        .message(TypeProto_Tensor::shape, shape);
    return io::ProtoBuilder().string(ValueInfoProto::name, name)
        .message(ValueInfoProto::type, io::ProtoBuilder().message(TypeProto::tensor_type, tensor));
}

// Lowers OpGraph nodes to ONNX nodes. Values are named as MindSpore's exporter names them: inputs by
// argument name, weights by parameter name, everything else by a running integer.
class OnnxEmitter {
public:
    explicit OnnxEmitter(const OpGraph& g) : g_(g), names_(g.values.size()) {
        for (std::size_t i = 0; i < g.values.size(); ++i)
            if (g.values[i].role != OpValue::Role::intermediate) names_[i] = g.values[i].name;
    }
    void emit(io::ProtoBuilder& graph) {
        graph_ = &graph;
        for (const auto& n : g_.nodes) std::visit([&](const auto& op) { lower(op, n); }, n.op);
    }
    const std::string& name(std::size_t v) const { return names_.at(v); }

private:
    std::string fresh() { return std::to_string(++counter_); }
    void node(std::string_view op, const std::vector<std::string>& inputs, const std::string& output,
              std::initializer_list<io::ProtoBuilder> attrs) {
        using namespace proto::onnx;
        io::ProtoBuilder n;
        for (const auto& in : inputs) n.string(NodeProto::input, in);
        n.string(NodeProto::output, output).string(NodeProto::name, output + std::string(op)).string(NodeProto::op_type, op);
        for (const auto& a : attrs) n.message(NodeProto::attribute, a);
        graph_->message(GraphProto::node, n);
    }
    std::vector<std::string> ins(const OpNode& n) const {
        std::vector<std::string> out;
        for (auto v : n.inputs) out.push_back(names_[v]);
        return out;
    }
    std::string out(const OpNode& n) { return names_[n.output] = fresh(); }

    template <class Window>
    static io::ProtoBuilder padding(const Window& w) {
        if (w.padding == PadMode::same) return onnx_string("auto_pad", "SAME_UPPER");
        if (w.padding == PadMode::valid) return onnx_string("auto_pad", "VALID");
        const std::int64_t pads[] = {w.pads[0], w.pads[2], w.pads[1], w.pads[3]};  // ONNX: begins, then ends
        return onnx_ints("pads", pads);
    }

    void lower(const op::Conv& c, const OpNode& n) {
        const std::int64_t dil[] = {1, 1};
        node("Conv", ins(n), out(n), {padding(c), onnx_ints("dilations", dil), onnx_int("group", 1),
                                      onnx_ints("kernel_shape", c.kernel), onnx_ints("strides", c.stride)});
    }
    void lower(const op::Dense&, const OpNode& n) {
        node("Gemm", ins(n), out(n), {onnx_int("transA", 0), onnx_int("transB", 1)});
    }
    void lower(const op::Relu&, const OpNode& n) { node("Relu", ins(n), out(n), {}); }
    void lower(const op::MaxPool& p, const OpNode& n) {
        node("MaxPool", ins(n), out(n), {padding(p), onnx_ints("kernel_shape", p.kernel), onnx_ints("strides", p.stride)});
    }
    void lower(const op::AvgPool& p, const OpNode& n) {
        node("AveragePool", ins(n), out(n), {padding(p), onnx_int("count_include_pad", p.count_include_pad ? 1 : 0),
                                             onnx_ints("kernel_shape", p.kernel), onnx_ints("strides", p.stride)});
    }
    void lower(const op::GlobalAvgPool& p, const OpNode& n) {
        if (p.keep_dims) return node("GlobalAveragePool", ins(n), out(n), {});
        const auto pooled = fresh();
        node("GlobalAveragePool", ins(n), pooled, {});
        node("Flatten", {pooled}, out(n), {onnx_int("axis", 1)});
    }
    void lower(const op::Flatten&, const OpNode& n) { node("Flatten", ins(n), out(n), {onnx_int("axis", 1)}); }
    void lower(const op::BatchNorm& b, const OpNode& n) {
        node("BatchNormalization", ins(n), out(n), {onnx_float("epsilon", b.epsilon), onnx_float("momentum", b.momentum)});
    }
    void lower(const op::Add&, const OpNode& n) { node("Add", ins(n), out(n), {}); }
    void lower(const op::Softmax& s, const OpNode& n) { node("Softmax", ins(n), out(n), {onnx_int("axis", s.axis)}); }

    const OpGraph& g_;
    std::vector<std::string> names_;
    io::ProtoBuilder* graph_ = nullptr;
    std::size_t counter_ = 0;
};

}  // namespace detail

struct onnx {
    static constexpr std::string_view extension = ".onnx";
    static constexpr std::size_t external_alignment = 4096;  // page-aligned: the data file maps well
    using WriteOptions = OnnxWriteOptions;
    using ReadOptions = OnnxReadOptions;

    // Writes graph g with its weights to path (and "<path>.data" past the threshold), atomically.
    static std::vector<std::filesystem::path> write(const std::filesystem::path& path, const OpGraph& g,
                                                    std::span<const RecordView> weights, const WriteOptions& options = {}) {
        const auto data = detail::weights_for(g, weights, path);
        std::size_t total = 0;
        for (const auto& d : data) total += d.size();
        const bool split = total > options.external_data_threshold;
        std::filesystem::path file = path;
        if (file.extension() != extension) file += extension;
        const std::string location = file.filename().string() + ".data";

        std::vector<std::filesystem::path> written;
        std::vector<std::int64_t> offsets(data.size(), -1);  // -1: inline
        if (split) {
            written.push_back(file.parent_path() / location);
            write_data_file(written.back(), data, options, offsets);
        }
        io::ProtoBuilder graph;
        detail::OnnxEmitter emitter(g);
        emitter.emit(graph);
        graph.string(GraphProto::name, g.name.empty() ? std::string("mindsave") : g.name);
        for (std::size_t i = 0; i < g.parameters.size(); ++i) {
            const OpValue& p = g.value(g.parameters[i]);
            io::ProtoBuilder t;
            for (auto d : p.shape) t.int64(TensorProto::dims, static_cast<std::int64_t>(d));
            t.varint(TensorProto::data_type, static_cast<std::uint64_t>(detail::tensor_proto_dtype(p.dtype)))
                .string(TensorProto::name, p.name);
            if (offsets[i] < 0) {
                t.borrowed(TensorProto::raw_data, data[i]);
            } else {
                auto entry = [](std::string_view k, std::string_view v) {
                    return io::ProtoBuilder().string(StringStringEntryProto::key, k).string(StringStringEntryProto::value, v);
                };
                t.message(TensorProto::external_data, entry("location", location))
                    .message(TensorProto::external_data, entry("offset", std::to_string(offsets[i])))
                    .message(TensorProto::external_data, entry("length", std::to_string(data[i].size())))
                    .varint(TensorProto::data_location, 1);  // EXTERNAL
            }
            graph.message(GraphProto::initializer, t);
        }
        for (auto i : g.inputs) graph.message(GraphProto::input, detail::onnx_value_info(emitter.name(i), g.value(i)));
        for (auto o : g.outputs) graph.message(GraphProto::output, detail::onnx_value_info(emitter.name(o), g.value(o)));

        io::ProtoBuilder model;
        model.int64(ModelProto::ir_version, 7).string(ModelProto::producer_name, "MindSpore")
            .string(ModelProto::producer_version, "1.0").string(ModelProto::doc_string, "written by mindsave")
            .message(ModelProto::graph, graph)
            .message(ModelProto::opset_import, io::ProtoBuilder().string(OperatorSetIdProto::domain, "")
                                                   .int64(OperatorSetIdProto::version, options.opset));
        detail::write_model_file(file, model);
        written.insert(written.begin(), file);
        return written;
    }

    // The initializers of an ONNX model (raw, typed or external data) as records.
    class Mapped {
    public:
        explicit Mapped(const std::filesystem::path& path, const ReadOptions& = {})
            : file_(std::make_unique<io::MappedFile>(path)), external_(path) {
            try {
                io::WireReader r(file_->bytes());
                bool graph = false;
                while (!r.at_end()) {
                    const auto key = r.key();
                    if (key.is(ModelProto::graph, ld)) parse_graph(r.bytes(), path), graph = true;
                    else r.skip(key.type);
                }
                if (!graph) throw FormatError(path, "not an ONNX model: it has no graph");
            } catch (const io::WireError& e) {
                throw FormatError(path, "corrupt ONNX model at byte " + std::to_string(e.offset) + ": " + e.what);
            }
        }
        const std::vector<RecordView>& records() const noexcept { return records_; }

    private:
        std::size_t base(std::span<const std::byte> b) const { return static_cast<std::size_t>(b.data() - file_->bytes().data()); }
        void parse_graph(std::span<const std::byte> g, const std::filesystem::path& path) {
            io::WireReader r(g, base(g));
            while (!r.at_end()) {
                const auto key = r.key();
                if (key.is(GraphProto::initializer, ld)) parse_initializer(r.bytes(), path);
                else r.skip(key.type);
            }
        }
        void parse_initializer(std::span<const std::byte> tensor, const std::filesystem::path& path);

        std::unique_ptr<io::MappedFile> file_;
        detail::ExternalFiles external_;
        std::deque<std::string> names_;
        std::deque<std::vector<std::byte>> owned_;  // values stored as typed fields, decoded
        std::vector<RecordView> records_;
    };

    static std::vector<TensorRecord> read(const std::filesystem::path& path, const ReadOptions& options = {}) {
        return copy_records(Mapped(path, options).records());
    }

private:
    using ModelProto = proto::onnx::ModelProto;
    using OperatorSetIdProto = proto::onnx::OperatorSetIdProto;
    using GraphProto = proto::onnx::GraphProto;
    using TensorProto = proto::onnx::TensorProto;
    using StringStringEntryProto = proto::onnx::StringStringEntryProto;
    static constexpr auto ld = io::WireType::length_delimited;

    static void write_data_file(const std::filesystem::path& file, const std::vector<std::span<const std::byte>>& data,
                                const WriteOptions& options, std::vector<std::int64_t>& offsets) {
        static constexpr std::array<std::byte, external_alignment> zeros{};
        std::vector<std::span<const std::byte>> pieces;
        std::size_t offset = 0;
        for (std::size_t i = 0; i < data.size(); ++i) {
            if (data[i].size() < options.external_min_tensor_bytes) continue;
            const std::size_t pad = (external_alignment - offset % external_alignment) % external_alignment;
            if (pad) pieces.push_back(std::span(zeros).first(pad));
            offset += pad;
            offsets[i] = static_cast<std::int64_t>(offset);
            pieces.push_back(data[i]);
            offset += data[i].size();
        }
        io::AtomicFile out(file);
        out.write(std::span<const std::span<const std::byte>>(pieces));
        out.commit(0400);
    }
};

inline void onnx::Mapped::parse_initializer(std::span<const std::byte> tensor, const std::filesystem::path& path) {
    io::WireReader r(tensor, base(tensor));
    RecordView v;
    std::string_view name, location;
    std::uint64_t dtype = 0, offset = 0, length = 0;
    bool has_length = false, external = false, has_raw = false;
    std::vector<std::byte> typed;  // float_data / int32_data / int64_data / double_data, little-endian
    TensorProto typed_from{};      // the field they came from
    auto append = [&](std::uint64_t value, std::size_t width) { append_le(typed, value, width); };
    // A repeated number field, unpacked (one element of wire type `element`) or packed: its values
    // appended as `width`-byte little-endian elements.
    auto typed_field = [&](TensorProto field, io::WireType type, io::WireType element, std::size_t width) {
        typed_from = field;
        auto one = [&](io::WireReader& in) {
            append(element == io::WireType::fixed32   ? in.fixed32()
                   : element == io::WireType::fixed64 ? in.fixed64()
                                                      : in.varint(),
                   width);
        };
        if (type == io::WireType::length_delimited) {
            const auto packed_bytes = r.bytes();
            io::WireReader packed(packed_bytes, r.offset() - packed_bytes.size());
            while (!packed.at_end()) one(packed);
        } else {
            one(r);
        }
    };
    using io::WireType;
    const auto number_field = [](io::FieldKey key, TensorProto field, WireType element) {
        return key.is(field) && (key.type == element || key.type == ld);
    };
    while (!r.at_end()) {
        const auto key = r.key();
        const auto type = key.type;
        if (key.is(TensorProto::dims) && (type == WireType::varint || type == ld)) {
            io::read_dims(r, type, v.shape);
        } else if (key.is(TensorProto::data_type, WireType::varint)) dtype = r.varint();
        else if (key.is(TensorProto::name, ld)) name = r.string();
        else if (key.is(TensorProto::raw_data, ld)) v.data = r.bytes(), has_raw = true;
        // a number field on another wire type is not that field (protobuf skips it as unknown)
        else if (number_field(key, TensorProto::float_data, WireType::fixed32)) typed_field(TensorProto::float_data, type, WireType::fixed32, 4);
        else if (number_field(key, TensorProto::int32_data, WireType::varint)) typed_field(TensorProto::int32_data, type, WireType::varint, 4);
        else if (number_field(key, TensorProto::int64_data, WireType::varint)) typed_field(TensorProto::int64_data, type, WireType::varint, 8);
        else if (number_field(key, TensorProto::double_data, WireType::fixed64)) typed_field(TensorProto::double_data, type, WireType::fixed64, 8);
        else if (key.is(TensorProto::external_data, ld)) {
            io::WireReader e(r.bytes());
            std::string_view entry_key, value;
            while (!e.at_end()) {
                const auto k = e.key();
                if (k.is(StringStringEntryProto::key, ld)) entry_key = e.string();
                else if (k.is(StringStringEntryProto::value, ld)) value = e.string();
                else e.skip(k.type);
            }
            auto number = [&] {
                std::uint64_t n = 0;
                if (value.empty() || value.size() > 19) throw FormatError(path, "initializer '" + std::string(name) + "': bad external " + std::string(entry_key));
                for (char c : value) {
                    if (c < '0' || c > '9') throw FormatError(path, "initializer '" + std::string(name) + "': bad external " + std::string(entry_key));
                    n = n * 10 + static_cast<std::uint64_t>(c - '0');
                }
                return n;
            };
            if (entry_key == "location") location = value;
            else if (entry_key == "offset") offset = number();
            else if (entry_key == "length") length = number(), has_length = true;
        } else if (key.is(TensorProto::data_location, WireType::varint)) external = r.varint() == 1;  // 1: EXTERNAL
        else r.skip(type);
    }
    names_.emplace_back(name);
    v.name = names_.back();
    const auto dt = detail::dtype_from_tensor_proto(dtype);
    if (!dt) throw FormatError(path, "initializer '" + names_.back() + "' has data_type " + std::to_string(dtype) + ", which mindsave does not read");
    v.dtype = *dt;
    if (external) {
        if (!has_length) {
            const auto n = checked_byte_count(v.shape, dtype_size(v.dtype));
            if (!n) throw FormatError(path, "initializer '" + names_.back() + "': shape " + shape_string(v.shape) + " overflows");
            length = *n;
        }
        v.data = external_.range(location, offset, length, names_.back());
    } else if (!has_raw && !typed.empty()) {
        const bool fits = (typed_from == TensorProto::float_data && v.dtype == DType::Float32) ||
                          (typed_from == TensorProto::int32_data && v.dtype == DType::Int32) ||
                          (typed_from == TensorProto::int64_data && v.dtype == DType::Int64) ||
                          (typed_from == TensorProto::double_data && v.dtype == DType::Float64);
        if (!fits) throw FormatError(path, "initializer '" + names_.back() + "' stores " + std::string(dtype_name(v.dtype)) +
                                               " values in a typed field mindsave does not decode; re-save with raw_data");
        v.data = owned_.emplace_back(std::move(typed));
    }
    detail::check_tensor_bytes(path, v);
    records_.push_back(v);
}

static_assert(ModelFormat<onnx> && MappedFormat<onnx>);

}  // namespace mindsave::format
