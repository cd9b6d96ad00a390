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

#include "mindsave/core/endian.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/op_graph.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/formats/concepts.hpp"
#include "mindsave/formats/model_common.hpp"
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

inline io::ProtoBuilder onnx_int(std::string_view name, std::int64_t v) {
    io::ProtoBuilder a;
    return a.string(1, name).int64(3, v).varint(20, 2);
}
inline io::ProtoBuilder onnx_float(std::string_view name, float v) {
    io::ProtoBuilder a;
    return a.string(1, name).float32(2, v).varint(20, 1);
}
inline io::ProtoBuilder onnx_string(std::string_view name, std::string_view s) {
    io::ProtoBuilder a;
    return a.string(1, name).string(4, s).varint(20, 3);
}
inline io::ProtoBuilder onnx_ints(std::string_view name, std::span<const std::int64_t> v) {
    io::ProtoBuilder a;
    a.string(1, name);
    for (auto x : v) a.int64(8, x);
    return a.varint(20, 7);
}
inline io::ProtoBuilder onnx_value_info(std::string_view name, const OpValue& v) {
    io::ProtoBuilder shape;
    for (auto d : v.shape) shape.message(1, io::ProtoBuilder().int64(1, static_cast<std::int64_t>(d)));
    io::ProtoBuilder tensor;
    tensor.varint(1, static_cast<std::uint64_t>(tensor_proto_dtype(v.dtype))).message(2, shape);
    return io::ProtoBuilder().string(1, name).message(2, io::ProtoBuilder().message(1, tensor));
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
        io::ProtoBuilder n;
        for (const auto& in : inputs) n.string(1, in);
        n.string(2, output).string(3, output + std::string(op)).string(4, op);
        for (const auto& a : attrs) n.message(5, a);
        graph_->message(1, n);
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
        graph.string(2, g.name.empty() ? std::string("mindsave") : g.name);
        for (std::size_t i = 0; i < g.parameters.size(); ++i) {
            const OpValue& p = g.value(g.parameters[i]);
            io::ProtoBuilder t;
            for (auto d : p.shape) t.int64(1, static_cast<std::int64_t>(d));
            t.varint(2, static_cast<std::uint64_t>(detail::tensor_proto_dtype(p.dtype))).string(8, p.name);
            if (offsets[i] < 0) {
                t.borrowed(9, data[i]);
            } else {
                auto entry = [](std::string_view k, std::string_view v) { return io::ProtoBuilder().string(1, k).string(2, v); };
                t.message(13, entry("location", location)).message(13, entry("offset", std::to_string(offsets[i])))
                    .message(13, entry("length", std::to_string(data[i].size()))).varint(14, 1);
            }
            graph.message(5, t);
        }
        for (auto i : g.inputs) graph.message(11, detail::onnx_value_info(emitter.name(i), g.value(i)));
        for (auto o : g.outputs) graph.message(12, detail::onnx_value_info(emitter.name(o), g.value(o)));

        io::ProtoBuilder model;
        model.int64(1, 7).string(2, "MindSpore").string(3, "1.0").string(6, "written by mindsave").message(7, graph)
            .message(8, io::ProtoBuilder().string(1, "").int64(2, options.opset));
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
                    io::WireType type;
                    const auto field = r.key(type);
                    if (field == 7 && type == io::WireType::length_delimited) parse_graph(r.bytes(), path), graph = true;
                    else r.skip(type);
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
                io::WireType type;
                const auto field = r.key(type);
                if (field == 5 && type == io::WireType::length_delimited) parse_initializer(r.bytes(), path);
                else r.skip(type);
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
    std::uint32_t typed_from = 0;  // the field they came from
    auto append = [&](std::uint64_t value, std::size_t width) { append_le(typed, value, width); };
    auto typed_field = [&](std::uint32_t field, io::WireType type, bool fixed, std::size_t fixed_width, std::size_t width) {
        typed_from = field;
        auto one = [&](io::WireReader& in) {
            append(fixed ? (fixed_width == 4 ? in.fixed32() : in.fixed64()) : in.varint(), width);
        };
        if (type == io::WireType::length_delimited) {
            io::WireReader packed(r.bytes());
            while (!packed.at_end()) one(packed);
        } else {
            one(r);
        }
    };
    while (!r.at_end()) {
        io::WireType type;
        const auto field = r.key(type);
        if (field == 1 && (type == io::WireType::varint || type == io::WireType::length_delimited)) {
            io::read_dims(r, type, v.shape);
        } else if (field == 2 && type == io::WireType::varint) dtype = r.varint();
        else if (field == 8 && type == io::WireType::length_delimited) name = r.string();
        else if (field == 9 && type == io::WireType::length_delimited) v.data = r.bytes(), has_raw = true;
        else if (field == 4 && type != io::WireType::varint) typed_field(4, type, true, 4, 4);   // float_data
        else if (field == 5 && type != io::WireType::fixed32) typed_field(5, type, false, 0, 4);  // int32_data
        else if (field == 7 && type != io::WireType::fixed32) typed_field(7, type, false, 0, 8);  // int64_data
        else if (field == 10 && type != io::WireType::varint) typed_field(10, type, true, 8, 8);  // double_data
        else if (field == 13 && type == io::WireType::length_delimited) {
            io::WireReader e(r.bytes());
            std::string_view key, value;
            while (!e.at_end()) {
                io::WireType t;
                const auto f = e.key(t);
                if (f == 1 && t == io::WireType::length_delimited) key = e.string();
                else if (f == 2 && t == io::WireType::length_delimited) value = e.string();
                else e.skip(t);
            }
            auto number = [&] {
                std::uint64_t n = 0;
                if (value.empty() || value.size() > 19) throw FormatError(path, "initializer '" + std::string(name) + "': bad external " + std::string(key));
                for (char c : value) {
                    if (c < '0' || c > '9') throw FormatError(path, "initializer '" + std::string(name) + "': bad external " + std::string(key));
                    n = n * 10 + static_cast<std::uint64_t>(c - '0');
                }
                return n;
            };
            if (key == "location") location = value;
            else if (key == "offset") offset = number();
            else if (key == "length") length = number(), has_length = true;
        } else if (field == 14 && type == io::WireType::varint) external = r.varint() == 1;
        else r.skip(type);
    }
    names_.emplace_back(name);
    v.name = names_.back();
    const auto dt = detail::dtype_from_tensor_proto(dtype);
    if (!dt) throw FormatError(path, "initializer '" + names_.back() + "' has data_type " + std::to_string(dtype) + ", which mindsave does not read");
    v.dtype = *dt;
    if (external) {
        if (!has_length) {
            std::size_t n = dtype_size(v.dtype);
            for (auto d : v.shape) n *= d;
            length = n;
        }
        v.data = external_.range(location, offset, length, names_.back());
    } else if (!has_raw && !typed.empty()) {
        const bool fits = (typed_from == 4 && v.dtype == DType::Float32) || (typed_from == 5 && v.dtype == DType::Int32) ||
                          (typed_from == 7 && v.dtype == DType::Int64) || (typed_from == 10 && v.dtype == DType::Float64);
        if (!fits) throw FormatError(path, "initializer '" + names_.back() + "' stores " + std::string(dtype_name(v.dtype)) +
                                               " values in a typed field mindsave does not decode; re-save with raw_data");
        v.data = owned_.emplace_back(std::move(typed));
    }
    detail::check_tensor_bytes(path, v);
    records_.push_back(v);
}

static_assert(ModelFormat<onnx> && MappedFormat<onnx>);

}  // namespace mindsave::format
