// The field numbers of ONNX's onnx.proto (docs/formats.md section 8) that format::onnx writes or reads,
// one enum per message; nested messages are spelled Outer_Inner, as protoc names them.
#pragma once

#include <cstdint>

namespace mindsave::format::proto::onnx {

enum class ModelProto : std::uint32_t {
    ir_version = 1, producer_name = 2, producer_version = 3, domain = 4, model_version = 5, doc_string = 6,
    graph = 7, opset_import = 8
};
enum class OperatorSetIdProto : std::uint32_t { domain = 1, version = 2 };
enum class GraphProto : std::uint32_t { node = 1, name = 2, initializer = 5, input = 11, output = 12 };
enum class NodeProto : std::uint32_t { input = 1, output = 2, name = 3, op_type = 4, attribute = 5 };
enum class AttributeProto : std::uint32_t { name = 1, f = 2, i = 3, s = 4, floats = 7, ints = 8, type = 20 };
enum class TensorProto : std::uint32_t {
    dims = 1, data_type = 2, float_data = 4, int32_data = 5, int64_data = 7, name = 8, raw_data = 9,
    double_data = 10, uint64_data = 11, external_data = 13, data_location = 14
};
enum class StringStringEntryProto : std::uint32_t { key = 1, value = 2 };
enum class ValueInfoProto : std::uint32_t { name = 1, type = 2 };
enum class TypeProto : std::uint32_t { tensor_type = 1 };
enum class TypeProto_Tensor : std::uint32_t { elem_type = 1, shape = 2 };
enum class TensorShapeProto : std::uint32_t { dim = 1 };
enum class TensorShapeProto_Dimension : std::uint32_t { dim_value = 1, dim_param = 2 };

}  // namespace mindsave::format::proto::onnx
