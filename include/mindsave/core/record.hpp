// TensorRecord: one named tensor as files hold it (name, dtype, shape, little-endian bytes).
// The neutral currency between formats and networks; formats know nothing of models.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/tensor.hpp"

namespace mindsave {

struct TensorRecord {
    std::string name;
    DType dtype = DType::Float32;
    Shape shape;  // empty for a 0-d scalar
    std::vector<std::byte> data;

    std::size_t element_count() const noexcept { return mindsave::element_count(shape); }

    // The elements as T; the dtype must be T's.
    template <Element T>
    std::vector<T> values() const {
        if (dtype != dtype_of_v<T>)
            throw DTypeError("tensor '" + name + "' is " + std::string(dtype_name(dtype)) + ", read as " +
                             std::string(dtype_name(dtype_of_v<T>)));
        std::vector<T> out(data.size() / sizeof(T));
        std::memcpy(out.data(), data.data(), out.size() * sizeof(T));
        return out;
    }
};

}  // namespace mindsave
