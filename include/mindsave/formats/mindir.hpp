// format::mindir: MindSpore's MindIR ModelProto (docs/formats.md section 5), written from an OpGraph with the
// weights inline or split into {name}_variables/data_0, and read back as named parameter records.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/op_graph.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/formats/concepts.hpp"
#include "mindsave/formats/mindir_fields.hpp"
#include "mindsave/formats/mindir_graph.hpp"
#include "mindsave/formats/model_common.hpp"
#include "mindsave/io/cipher.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/proto_builder.hpp"
#include "mindsave/io/protobuf_wire.hpp"

namespace mindsave::format {

// One PreprocessOpProto of a MindIR's preprocessor (ModelProto field 9): each field is the JSON text
// Python's json.dumps writes for the dataset's Map node (input_columns ["image"], op_type "\"Map\"", ...).
struct MindirPreprocessOp {
    std::string input_columns, output_columns, op_type, operations;
    bool offload = false;
    bool operator==(const MindirPreprocessOp&) const = default;
};

struct MindirWriteOptions {
    // MindSpore splits when the parameters' Python sizes (bytes + 33 each) exceed 1 GiB; tests set less.
    std::size_t external_data_threshold = std::size_t{1} << 30;
    std::string model_version = "2.2.14";  // a 2.2 writer: mind_ir_version 1, REF-style graph
    std::string enc_key{};             // non-empty: encrypt as export's enc_key (needs mindsave/io/crypto.hpp)
    std::string enc_mode = "AES-GCM";  // "AES-GCM", "AES-CBC" or "SM4-CBC"
    // The dataset's map stages, source first (export with a dataset fills it); empty writes no field 9.
    std::vector<MindirPreprocessOp> preprocessor{};
};
struct MindirReadOptions {};  // MindIR carries no checksum: load_checkpoint's crc_check has nothing to check

struct mindir {
    static constexpr std::string_view extension = ".mindir";
    static constexpr std::size_t python_bytes_overhead = 33;  // sys.getsizeof(b"") on CPython 3
    static constexpr std::size_t data_alignment = 64;
    using WriteOptions = MindirWriteOptions;
    using ReadOptions = MindirReadOptions;

    // Writes graph g with its weights (looked up by parameter name) to path, atomically. Returns the
    // files written: path itself, or {stem}_graph.mindir and {stem}_variables/data_0 when split.
    static std::vector<std::filesystem::path> write(const std::filesystem::path& path, const OpGraph& g,
                                                    std::span<const RecordView> weights, const WriteOptions& options = {}) {
        const auto data = detail::weights_for(g, weights, path);
        std::size_t python_size = 0;
        for (const auto& d : data) python_size += d.size() + python_bytes_overhead;
        const bool split = python_size > options.external_data_threshold;
        std::optional<CipherKey> key;
        if (!options.enc_key.empty()) {
            key.emplace(options.enc_key, options.enc_mode, "export");
            mindsave::detail::require_cipher("export");
            if (split)
                throw ConfigError("export: enc_key with weights past the external-data threshold (a split MindIR, "
                                  "each data chunk encrypted on its own) is not written by mindsave; export the "
                                  "model unencrypted, or raise external_data_threshold");
        }

        std::filesystem::path stem = path;
        if (stem.extension() == extension) stem.replace_extension();
        const std::string base = stem.filename().string();
        const std::string location = base + "_variables/data_0";
        std::vector<std::array<std::int64_t, 2>> external(g.parameters.size());  // offset, length
        std::vector<std::filesystem::path> written;
        if (split) {
            written.push_back(stem.parent_path() / location);
            write_data_file(written.back(), g, data, external);
        }

        const std::string graph_name = "1_" + (g.name.empty() ? std::string("Cell") : g.name) + "_construct.Default";
        io::ProtoBuilder graph;
        std::vector<io::ProtoBuilder> primitives;
        detail::MindirEmitter(g, graph_name).emit(graph, primitives);
        for (std::size_t i = 0; i < g.parameters.size(); ++i) {
            const OpValue& p = g.value(g.parameters[i]);
            io::ProtoBuilder t = detail::mindir_tensor_type(p.dtype, p.shape);
            t.string(TensorProto::name, graph_name + ":" + p.name);
            if (split)
                t.message(TensorProto::external_data, io::ProtoBuilder()
                                                          .string(ExternalDataProto::location, location)
                                                          .int64(ExternalDataProto::offset, external[i][0])
                                                          .int64(ExternalDataProto::length, external[i][1]));
            else
                t.borrowed(TensorProto::raw_data, data[i]);
            t.string(TensorProto::ref_key, p.name).varint(TensorProto::compression_type, 0);  // NO_COMPRESSION
            graph.message(GraphProto::parameter, t);
        }
        io::ProtoBuilder model;
        model.string(ModelProto::ir_version, "0.1.1").string(ModelProto::producer_name, "MindSpore")
            .string(ModelProto::model_version, options.model_version).string(ModelProto::doc_string, "written by mindsave")
            .message(ModelProto::graph, graph);
        if (!options.preprocessor.empty()) {
            io::ProtoBuilder pre;
            for (const auto& op : options.preprocessor)
                pre.message(PreprocessorProto::op, io::ProtoBuilder()
                                                       .string(PreprocessOpProto::input_columns, op.input_columns)
                                                       .string(PreprocessOpProto::output_columns, op.output_columns)
                                                       .string(PreprocessOpProto::op_type, op.op_type)
                                                       .string(PreprocessOpProto::operations, op.operations)
                                                       .boolean(PreprocessOpProto::offload, op.offload));
            model.message(ModelProto::preprocessor, pre);
        }
        model.boolean(ModelProto::little_endian, true);
        for (const auto& p : primitives) model.message(ModelProto::primitives, p);
        model.varint(ModelProto::mind_ir_version, 1);  // IR_VERSION

        auto file = split ? stem.parent_path() / (base + "_graph.mindir") : stem;
        if (!split) file += extension;
        if (key) {  // the whole serialized ModelProto as MindSpore's cipher blocks
            struct Plaintext {
                std::vector<std::byte> bytes;
                ~Plaintext() { mindsave::detail::wipe(bytes); }  // however the export ends
            } plain;
            plain.bytes.reserve(model.size());
            for (const auto piece : model.pieces()) plain.bytes.insert(plain.bytes.end(), piece.begin(), piece.end());
            const auto cipher = mindsave::detail::encrypt_blocks(plain.bytes, *key, "export");
            io::AtomicFile out(file);
            out.write(cipher);
            out.commit(0400);
        } else {
            detail::write_model_file(file, model);
        }
        written.insert(written.begin(), file);
        return written;
    }

    // The parameters of a MindIR file (inline raw_data or external data), as views into memory maps.
    class Mapped {
    public:
        explicit Mapped(const std::filesystem::path& path, const ReadOptions& = {})
            : file_(std::make_unique<io::MappedFile>(path)), bytes_(file_->bytes()), external_(path) {
            parse(path);
        }
        // The model from its bytes at hand (a decrypted file); views point into plain, which must outlive them.
        Mapped(std::span<const std::byte> plain, const std::filesystem::path& path) : bytes_(plain), external_(path) {
            parse(path);
        }
        const std::vector<RecordView>& records() const noexcept { return records_; }
        const std::string& model_version() const noexcept { return model_version_; }
        const std::string& graph_name() const noexcept { return graph_name_; }
        // The preprocessor's operations (ModelProto field 9), source first; empty when the file has none.
        const std::vector<MindirPreprocessOp>& preprocessor() const noexcept { return preprocessor_; }

    private:
        void parse(const std::filesystem::path& path) {
            const auto bytes = bytes_;
            if (const auto mode = mindsave::detail::cipher_magic(bytes)) mindsave::detail::throw_encrypted(path, *mode, "MindIR model");
            try {
                io::WireReader r(bytes);
                bool producer = false;
                while (!r.at_end()) {
                    const auto key = r.key();
                    if (key.is(ModelProto::producer_name, ld)) producer = !r.string().empty();
                    else if (key.is(ModelProto::model_version, ld)) model_version_ = r.string();
                    else if (key.is(ModelProto::graph, ld)) parse_graph(r.bytes(), path);
                    else if (key.is(ModelProto::preprocessor, ld)) parse_preprocessor(r.bytes());
                    else if (key.is(ModelProto::little_endian, io::WireType::varint)) {
                        if (r.varint() != 1) throw FormatError(path, "the model is big-endian; this host is little-endian");
                    } else r.skip(key.type);
                }
                if (!producer || model_version_.empty())
                    throw FormatError(path, "not a MindIR model: producer_name or model_version is missing");
            } catch (const io::WireError& e) {
                throw FormatError(path, "corrupt MindIR at byte " + std::to_string(e.offset) + ": " + e.what);
            }
        }
        // PreprocessorProto { repeated PreprocessOpProto op = 1 }. An older mind_ir.proto had a plain string
        // here (same number and wire type): its text is not a message, and is kept as one op's operations.
        void parse_preprocessor(std::span<const std::byte> pre) {
            try {
                parse_preprocessor_message(pre);
            } catch (const io::WireError&) {
                preprocessor_.clear();
                MindirPreprocessOp legacy;
                legacy.operations.assign(reinterpret_cast<const char*>(pre.data()), pre.size());
                preprocessor_.push_back(std::move(legacy));
            }
        }
        void parse_preprocessor_message(std::span<const std::byte> pre) {
            io::WireReader r(pre, static_cast<std::size_t>(pre.data() - bytes_.data()));
            while (!r.at_end()) {
                const auto key = r.key();
                if (!key.is(PreprocessorProto::op, ld)) {
                    r.skip(key.type);
                    continue;
                }
                const auto body = r.bytes();
                io::WireReader o(body, static_cast<std::size_t>(body.data() - bytes_.data()));
                MindirPreprocessOp op;
                while (!o.at_end()) {
                    const auto k = o.key();
                    if (k.is(PreprocessOpProto::input_columns, ld)) op.input_columns = o.string();
                    else if (k.is(PreprocessOpProto::output_columns, ld)) op.output_columns = o.string();
                    else if (k.is(PreprocessOpProto::op_type, ld)) op.op_type = o.string();
                    else if (k.is(PreprocessOpProto::operations, ld)) op.operations = o.string();
                    else if (k.is(PreprocessOpProto::offload, io::WireType::varint)) op.offload = o.varint() != 0;
                    else o.skip(k.type);
                }
                preprocessor_.push_back(std::move(op));
            }
        }
        void parse_graph(std::span<const std::byte> graph, const std::filesystem::path& path) {
            io::WireReader r(graph, static_cast<std::size_t>(graph.data() - bytes_.data()));
            while (!r.at_end()) {
                const auto key = r.key();
                if (key.is(GraphProto::name, ld)) graph_name_ = r.string();
                else if (key.is(GraphProto::parameter, ld)) parse_parameter(r.bytes(), path);
                else r.skip(key.type);
            }
        }
        void parse_parameter(std::span<const std::byte> tensor, const std::filesystem::path& path) {
            io::WireReader r(tensor, static_cast<std::size_t>(tensor.data() - bytes_.data()));
            RecordView v;
            std::string_view name, ref_key, location;
            std::uint64_t dtype = 0, offset = 0, length = 0;
            bool inline_data = false, external = false;
            while (!r.at_end()) {
                const auto key = r.key();
                if (key.is(TensorProto::dims) && (key.type == io::WireType::varint || key.type == ld)) {
                    io::read_dims(r, key.type, v.shape);
                } else if (key.is(TensorProto::data_type, io::WireType::varint)) dtype = r.varint();
                else if (key.is(TensorProto::name, ld)) name = r.string();
                else if (key.is(TensorProto::raw_data, ld)) v.data = r.bytes(), inline_data = true;
                else if (key.is(TensorProto::ref_key, ld)) ref_key = r.string();
                else if (key.is(TensorProto::external_data, ld)) {
                    external = true;
                    io::WireReader e(r.bytes());
                    while (!e.at_end()) {
                        const auto k = e.key();
                        if (k.is(ExternalDataProto::location, ld)) location = e.string();
                        else if (k.is(ExternalDataProto::offset, io::WireType::varint)) offset = e.varint();
                        else if (k.is(ExternalDataProto::length, io::WireType::varint)) length = e.varint();
                        else e.skip(k.type);
                    }
                } else r.skip(key.type);
            }
            // ref_key is the parameter's name; older files only have "<graph>:<name>"
            const auto colon = name.find(':');
            const std::string_view param = !ref_key.empty() ? ref_key : colon == std::string_view::npos ? name : name.substr(colon + 1);
            names_.emplace_back(param);
            v.name = names_.back();
            const auto dt = detail::dtype_from_tensor_proto(dtype);
            if (!dt) throw FormatError(path, "parameter '" + names_.back() + "' has data_type " + std::to_string(dtype) + ", which mindsave does not read");
            v.dtype = *dt;
            if (external) {
                const auto whole = external_.whole(location, names_.back());
                if (whole.empty() || whole[0] != std::byte{1})
                    throw FormatError(path, "external data '" + std::string(location) +
                                                "' was written on a big-endian machine or has no header; this host is little-endian");
                if (offset < data_alignment)
                    throw FormatError(path, "parameter '" + names_.back() + "' starts inside the data file's 64-byte header");
                v.data = external_.range(location, offset, length, names_.back());
            } else if (!inline_data) {
                throw FormatError(path, "parameter '" + names_.back() + "' has no raw_data and no external_data; mindsave reads "
                                        "weights stored as MindSpore stores them");
            }
            detail::check_tensor_bytes(path, v);
            records_.push_back(v);
        }

        std::unique_ptr<io::MappedFile> file_;  // null when parsed from bytes at hand
        std::span<const std::byte> bytes_;
        detail::ExternalFiles external_;
        std::deque<std::string> names_;
        std::vector<RecordView> records_;
        std::string model_version_, graph_name_;
        std::vector<MindirPreprocessOp> preprocessor_;
    };

    static std::vector<TensorRecord> read(const std::filesystem::path& path, const ReadOptions& options = {}) {
        return copy_records(Mapped(path, options).records());
    }
    // The records of a decrypted file's bytes (load_checkpoint with dec_key).
    static std::vector<TensorRecord> from_plaintext(std::span<const std::byte> plain, const std::filesystem::path& path,
                                                    const ReadOptions& = {}) {
        return copy_records(Mapped(plain, path).records());
    }

private:
    using ModelProto = proto::mindir::ModelProto;
    using PreprocessorProto = proto::mindir::PreprocessorProto;
    using PreprocessOpProto = proto::mindir::PreprocessOpProto;
    using GraphProto = proto::mindir::GraphProto;
    using TensorProto = proto::mindir::TensorProto;
    using ExternalDataProto = proto::mindir::TensorProto_ExternalDataProto;
    static constexpr auto ld = io::WireType::length_delimited;

    // data_0: a 64-byte header (byte 0 = 1: little-endian), then the weights sorted by name, each
    // padded with zeros to a multiple of 64 bytes.
    static void write_data_file(const std::filesystem::path& file, const OpGraph& g,
                                const std::vector<std::span<const std::byte>>& data,
                                std::vector<std::array<std::int64_t, 2>>& external) {
        std::vector<std::size_t> order(g.parameters.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(),
                  [&](auto a, auto b) { return g.value(g.parameters[a]).name < g.value(g.parameters[b]).name; });
        static constexpr std::array<std::byte, data_alignment> header{std::byte{1}};
        static constexpr std::array<std::byte, data_alignment> zeros{};
        std::vector<std::span<const std::byte>> pieces{header};
        std::size_t offset = data_alignment;
        for (auto i : order) {
            external[i] = {static_cast<std::int64_t>(offset), static_cast<std::int64_t>(data[i].size())};
            pieces.push_back(data[i]);
            const std::size_t pad = (data_alignment - data[i].size() % data_alignment) % data_alignment;
            if (pad) pieces.push_back(std::span(zeros).first(pad));
            offset += data[i].size() + pad;
        }
        std::error_code ec;
        std::filesystem::create_directories(file.parent_path(), ec);
        if (ec) throw FileError(file.parent_path(), "cannot create the variables folder: " + ec.message());
        io::AtomicFile out(file);
        out.write(std::span<const std::span<const std::byte>>(pieces));
        out.commit(0400);
    }
};

static_assert(ModelFormat<mindir> && MappedFormat<mindir>);

}  // namespace mindsave::format
