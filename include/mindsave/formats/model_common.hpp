// What MindIR and ONNX share: their TensorProto data-type numbering, weights looked up by name for
// a graph's parameters, and bounds-checked external data files opened through memory maps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mindsave/core/byte_count.hpp"
#include "mindsave/core/dtype.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/op_graph.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/proto_builder.hpp"

namespace mindsave::format::detail {

// TensorProto.data_type: MindIR and ONNX number the types alike (FLOAT 1 ... BFLOAT16 16).
inline std::int32_t tensor_proto_dtype(DType t) noexcept {
    switch (t) {
        case DType::Float32: return 1;
        case DType::UInt8: return 2;
        case DType::Int8: return 3;
        case DType::UInt16: return 4;
        case DType::Int16: return 5;
        case DType::Int32: return 6;
        case DType::Int64: return 7;
        case DType::Bool: return 9;
        case DType::Float16: return 10;
        case DType::Float64: return 11;
        case DType::UInt32: return 12;
        case DType::UInt64: return 13;
        case DType::BFloat16: return 16;
    }
    return 0;
}
// The inverse; MindIR's FLOAT64 (17) is float64 too. Strings and complex types have no DType.
inline std::optional<DType> dtype_from_tensor_proto(std::uint64_t code) noexcept {
    switch (code) {
        case 1: return DType::Float32;
        case 2: return DType::UInt8;
        case 3: return DType::Int8;
        case 4: return DType::UInt16;
        case 5: return DType::Int16;
        case 6: return DType::Int32;
        case 7: return DType::Int64;
        case 9: return DType::Bool;
        case 10: return DType::Float16;
        case 11: return DType::Float64;
        case 12: return DType::UInt32;
        case 13: return DType::UInt64;
        case 16: return DType::BFloat16;
        case 17: return DType::Float64;
        default: return std::nullopt;
    }
}

// The bytes of each graph parameter, found by name among the given weights and checked against
// the traced dtype and shape: a graph is never written with a missing or mismatched weight.
inline std::vector<std::span<const std::byte>> weights_for(const OpGraph& g, std::span<const RecordView> weights,
                                                           const std::filesystem::path& path) {
    std::unordered_map<std::string_view, const RecordView*> by_name;
    for (const auto& w : weights) by_name.emplace(w.name, &w);
    std::vector<std::span<const std::byte>> out;
    for (auto id : g.parameters) {
        const OpValue& p = g.value(id);
        const auto it = by_name.find(p.name);
        if (it == by_name.end())
            throw ParameterError(path.string() + ": no value given for graph parameter '" + p.name +
                                 "'; pass the network whose type was traced");
        const RecordView& w = *it->second;
        if (w.dtype != p.dtype || w.shape != p.shape || w.is_string)
            throw ShapeError(path.string() + ": parameter '" + p.name + "' is " + std::string(dtype_name(w.dtype)) +
                             shape_string(w.shape) + " but the graph needs " + std::string(dtype_name(p.dtype)) +
                             shape_string(p.shape));
        out.push_back(w.data);
    }
    return out;
}

// Writes a model message to path atomically, read-only as MindSpore leaves its files.
inline void write_model_file(const std::filesystem::path& path, const io::ProtoBuilder& message) {
    io::AtomicFile out(path);
    const auto pieces = message.pieces();
    out.write(std::span<const std::span<const std::byte>>(pieces));
    out.commit(0400);
}

// External data files named by a model, each mapped once and checked before any byte is used.
class ExternalFiles {
public:
    explicit ExternalFiles(std::filesystem::path model) : model_(std::move(model)) {}

    // bytes [offset, offset + length) of location (relative to the model's folder), or a FormatError.
    std::span<const std::byte> range(std::string_view location, std::uint64_t offset, std::uint64_t length,
                                     std::string_view tensor) {
        const std::filesystem::path rel(location);
        if (location.empty() || rel.is_absolute() || rel.lexically_normal().string().starts_with(".."))
            throw FormatError(model_, "tensor '" + std::string(tensor) + "' names external data '" +
                                          std::string(location) + "' outside the model's folder");
        auto& file = files_[std::string(location)];
        if (!file) {
            const auto p = model_.parent_path() / rel;
            if (!std::filesystem::exists(p))
                throw FileError(p, "external data of tensor '" + std::string(tensor) + "' in " + model_.string() +
                                       " is missing; keep the data file beside the model");
            file = std::make_unique<io::MappedFile>(p);
        }
        const auto bytes = file->bytes();
        if (offset > bytes.size() || length > bytes.size() - offset)
            throw FormatError(model_, "tensor '" + std::string(tensor) + "': external range [" +
                                          std::to_string(offset) + ", +" + std::to_string(length) + ") lies past the end of " +
                                          std::string(location) + " (" + std::to_string(bytes.size()) + " bytes)");
        return bytes.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(length));
    }
    std::span<const std::byte> whole(std::string_view location, std::string_view tensor) {
        range(location, 0, 0, tensor);
        return files_.at(std::string(location))->bytes();
    }

private:
    std::filesystem::path model_;
    std::map<std::string, std::unique_ptr<io::MappedFile>> files_;
};

// Checks a tensor's byte count against dtype x shape, naming the file and the tensor.
inline void check_tensor_bytes(const std::filesystem::path& path, const RecordView& r) {
    const auto need = checked_byte_count(r.shape, dtype_size(r.dtype));
    if (!need)
        throw FormatError(path, "tensor '" + std::string(r.name) + "' has dims " + shape_string(r.shape) +
                                    " whose size overflows");
    const std::size_t n = *need;
    if (n != r.data.size())
        throw FormatError(path, "tensor '" + std::string(r.name) + "' " + std::string(dtype_name(r.dtype)) +
                                    shape_string(r.shape) + " needs " + std::to_string(n) + " bytes but holds " +
                                    std::to_string(r.data.size()));
}

}  // namespace mindsave::format::detail
