// The field numbers of MindSpore's checkpoint.proto (docs/formats.md section 1), one enum per message,
// for format::ckpt's reader and writer.
#pragma once

#include <cstdint>

namespace mindsave::format::proto::ckpt {

enum class Checkpoint : std::uint32_t { value = 1 };
enum class CheckpointValue : std::uint32_t { tag = 1, tensor = 2, maptensor = 3 };
enum class TensorProto : std::uint32_t { dims = 1, tensor_type = 2, tensor_content = 3 };

}  // namespace mindsave::format::proto::ckpt
