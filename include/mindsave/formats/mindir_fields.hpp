// The field numbers of MindSpore's mind_ir.proto (docs/formats.md section 5.1) that format::mindir writes or
// reads, one enum per message; nested messages are spelled Outer_Inner, as protoc names them.
#pragma once

#include <cstdint>

namespace mindsave::format::proto::mindir {

enum class ModelProto : std::uint32_t {
    ir_version = 1, producer_name = 2, producer_version = 3, domain = 4, model_version = 5, doc_string = 6,
    graph = 7, functions = 8, preprocessor = 9, little_endian = 10, parallel = 11, primitives = 12,
    mind_ir_version = 13
};
enum class PreprocessorProto : std::uint32_t { op = 1 };
enum class PreprocessOpProto : std::uint32_t {
    input_columns = 1, output_columns = 2, project_columns = 3, op_type = 4, operations = 5, offload = 6
};
enum class GraphProto : std::uint32_t {
    node = 1, name = 2, parameter = 3, doc_string = 4, input = 5, output = 6, bprop_hash = 7, attribute = 8,
    bprop_filepath = 9
};
enum class NodeProto : std::uint32_t {
    input = 1, output = 2, name = 3, op_type = 4, attribute = 5, doc_string = 6, domain = 7
};
enum class ValueInfoProto : std::uint32_t { name = 1, tensor = 2 };
enum class TensorProto : std::uint32_t {
    dims = 1, data_type = 2, name = 7, raw_data = 9, external_data = 12, ref_key = 13, compression_type = 16
};
enum class TensorProto_ExternalDataProto : std::uint32_t { location = 1, offset = 2, length = 3 };
enum class AttributeProto : std::uint32_t {
    name = 1, f = 2, i = 3, d = 4, s = 5, ints = 10, strings = 11, tensors = 12, type = 16, values = 17
};
enum class PrimitiveProto : std::uint32_t { name = 1, op_type = 2, attribute = 3 };

}  // namespace mindsave::format::proto::mindir
