// A file's records as a load into a network plans them: headers first (name, dtype, shape, where the bytes
// are), bytes later, read straight into the parameters once every assignment has been checked.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "mindsave/core/dtype.hpp"
#include "mindsave/core/tensor.hpp"

namespace mindsave {

// One record as its header describes it; its bytes are not read yet.
struct RecordHeader {
    std::string name;
    DType dtype = DType::Float32;
    Shape shape;
    bool is_string = false;
    std::size_t bytes = 0;  // its content's size
};

// A planned copy: record `record`'s bytes (all of them) into dest, which is exactly that long. A plan's
// read(jobs) takes a span of these and must be safe to call from several threads at once, on different jobs
// (large loads split their jobs over the pool): pread on a shared descriptor, or copies from a mapping, are.
struct ReadJob {
    std::size_t record;
    std::span<std::byte> dest;
};

}  // namespace mindsave
