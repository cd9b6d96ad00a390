// The field numbers of MindSpore's anf_ir.proto (docs/formats.md section 6) that graph.meta's writer uses,
// one enum per message; nested messages are spelled Outer_Inner, as protoc names them.
#pragma once

#include <cstdint>

namespace mindsave::graph::proto::anf_ir {

enum class ModelProto : std::uint32_t { ir_version = 1, domain = 2, model_version = 3, graph = 4 };
enum class GraphProto : std::uint32_t { node = 1, name = 2, parameters = 3, outputs = 4, const_vals = 5 };
enum class NodeProto : std::uint32_t {
    input = 1, name = 2, op_type = 3, scope = 4, attribute = 5, output_type = 6, output_i = 7, full_name = 8,
    instance_name = 10
};
enum class InputProto : std::uint32_t { name = 1, type = 2 };
enum class ParameterProto : std::uint32_t { name = 1, type = 2, default_val = 3 };
enum class OutputProto : std::uint32_t { name = 1, type = 2 };
enum class TypeProto : std::uint32_t { data_type = 1, tensor_type = 2, sequence_type = 3 };
enum class TypeProto_Tensor : std::uint32_t { elem_type = 1, shape = 2 };
enum class TensorShapeProto : std::uint32_t { dim = 1 };
enum class TensorShapeProto_Dimension : std::uint32_t { size = 1, name = 2 };

}  // namespace mindsave::graph::proto::anf_ir
