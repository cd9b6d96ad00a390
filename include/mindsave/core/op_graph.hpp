// The neutral inference graph that export formats serialise: typed ops over shaped values, with
// parameters named as MindSpore names them. graph/ traces it from a network type; formats/ write it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "mindsave/core/dtype.hpp"
#include "mindsave/core/padding.hpp"
#include "mindsave/core/tensor.hpp"

namespace mindsave {

namespace op {
using Pair = std::array<std::int64_t, 2>;
using Pads = std::array<std::int64_t, 4>;  // top, bottom, left, right (MindSpore's pad_list order)

struct Conv {  // inputs: x, weight [out, in, kh, kw] (, bias [out])
    Pair kernel, stride;
    Pads pads;  // the padding actually applied, whatever the mode
    PadMode padding = PadMode::valid;
    std::int64_t out_channels = 0;
};
struct Dense {};  // inputs: x [N, in], weight [out, in] (, bias [out]): x * weight^T + bias
struct Relu {};
struct MaxPool {
    Pair kernel, stride;
    Pads pads;
    PadMode padding = PadMode::valid;
};
struct AvgPool {
    Pair kernel, stride;
    Pads pads;
    PadMode padding = PadMode::valid;
    bool count_include_pad = false;  // explicit padding counted in the divisor (MindSpore's 'pad' default)
};
struct GlobalAvgPool {  // mean over H and W
    bool keep_dims = false;
};
struct Flatten {};                          // [N, ...] -> [N, rest]
struct BatchNorm {                          // inputs: x, gamma, beta, moving_mean, moving_variance
    float epsilon = 1e-5f, momentum = 0.9f;  // MindSpore's momentum: moving = m * moving + (1 - m) * batch
};
struct Add {};
struct Softmax {
    std::int64_t axis = -1;
};
}  // namespace op

using OpKind = std::variant<op::Conv, op::Dense, op::Relu, op::MaxPool, op::AvgPool, op::GlobalAvgPool, op::Flatten,
                            op::BatchNorm, op::Add, op::Softmax>;

struct OpValue {
    enum class Role { input, parameter, intermediate };
    Role role = Role::intermediate;
    std::string name;  // parameter name ("conv1.weight") or input name ("x"); empty for intermediates
    DType dtype = DType::Float32;
    Shape shape;
};

struct OpNode {
    OpKind op;
    std::vector<std::size_t> inputs;  // indices into OpGraph::values
    std::size_t output = 0;
    std::string scope;  // MindSpore scope of the cell, e.g. "Default/conv1-Conv2d"
};

struct OpGraph {
    std::string name;                   // "LeNet5", the network's cell name
    std::vector<OpValue> values;
    std::vector<OpNode> nodes;          // in execution order
    std::vector<std::size_t> inputs, outputs, parameters;  // value indices; parameters in visit order

    std::size_t add_value(OpValue v) {
        values.push_back(std::move(v));
        return values.size() - 1;
    }
    const OpValue& value(std::size_t i) const { return values.at(i); }
};

}  // namespace mindsave
