// Tensors on xtensor: the activation type layers pass along, and byte views of any element tensor.
// A TensorView is how format code sees a parameter: dtype, shape and raw little-endian bytes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include "mindsave/core/dtype.hpp"

namespace mindsave {

// Activations and their gradients: float32, row-major, rank chosen at run time (NCHW or NC).
// Resizing to a shape of the same element count keeps the buffer, so steady-state steps never allocate.
using Tensor = xt::xarray<float>;
using Shape = std::vector<std::size_t>;

// Resizes t to shape; a tensor already of that shape is left alone and nothing is allocated,
// so steady-state training steps never allocate.
template <class S>
void ensure_shape(Tensor& t, const S& shape) {
    if (t.dimension() != std::size(shape) || !std::equal(std::begin(shape), std::end(shape), t.shape().begin()))
        t.resize(typename Tensor::shape_type(std::begin(shape), std::end(shape)));
}
inline void ensure_shape(Tensor& t, std::initializer_list<std::size_t> shape) {
    ensure_shape<std::initializer_list<std::size_t>>(t, shape);
}

inline std::size_t element_count(std::span<const std::size_t> shape) noexcept {
    return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>{});
}

inline std::string shape_string(std::span<const std::size_t> shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

// A mutable, non-owning view of one tensor's memory.
struct TensorView {
    DType dtype;
    Shape shape;
    std::span<std::byte> bytes;
};

// Anything parameter visiting may hand out: xtensor containers of a known element type.
template <class T>
concept ElementTensor = requires(T& t) {
    typename T::value_type;
    requires Element<typename T::value_type>;
    { t.data() };
    { t.size() } -> std::convertible_to<std::size_t>;
    { t.shape() };
};

template <ElementTensor T>
TensorView view_of(T& t) {
    using E = typename T::value_type;
    return {dtype_of_v<E>, Shape(t.shape().begin(), t.shape().end()),
            std::as_writable_bytes(std::span<E>(t.data(), t.size()))};
}

}  // namespace mindsave
