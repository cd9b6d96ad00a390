// A pipeline's map stages as MindSpore serializes them (dataset.to_json(), then a MindIR's preprocessor):
// each operation's tensor_op_name and its tensor_op_params as the JSON Python's json.dumps writes.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mindsave/core/python_repr.hpp"
#include "mindsave/io/json.hpp"

namespace mindsave::data {

// One operation: {"tensor_op_name": name, "tensor_op_params": params}, params as JSON text ("null" for none).
struct PreprocessOp {
    std::string tensor_op_name;
    std::string tensor_op_params = "null";
    bool operator==(const PreprocessOp&) const = default;
};

// One map() call: MindSpore's Map node, the image column in and out.
struct PreprocessStage {
    std::vector<std::string> input_columns{"image"};
    std::vector<std::string> output_columns{"image"};
    std::vector<PreprocessOp> operations;
    bool offload = false;
    bool operator==(const PreprocessStage&) const = default;
};

// A transform that says which MindSpore operation it is (export with a dataset needs every one to).
template <class T>
concept DescribedTransform = requires(const T& t) {
    { t.mindspore_op() } -> std::same_as<PreprocessOp>;
};

namespace detail {

// Builds a JSON object as Python's json.dumps writes one: {"key": value, ...}, keys in the order given
// (MindSpore's to_json sorts them, so callers add them sorted).
class JsonParams {
public:
    JsonParams& number(std::string_view key, double v) { return raw(key, mindsave::detail::python_float_repr(v)); }
    JsonParams& integer(std::string_view key, long long v) { return raw(key, std::to_string(v)); }
    JsonParams& boolean(std::string_view key, bool v) { return raw(key, v ? "true" : "false"); }
    JsonParams& string(std::string_view key, std::string_view v) {
        std::string s;
        io::detail::append_json_string(s, v);
        return raw(key, s);
    }
    template <class T>
    JsonParams& numbers(std::string_view key, const std::vector<T>& v) {
        std::string s = "[";
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) s += ", ";
            if constexpr (std::is_integral_v<T>) s += std::to_string(v[i]);
            else s += mindsave::detail::python_float_repr(static_cast<double>(v[i]));
        }
        return raw(key, s + "]");
    }
    JsonParams& raw(std::string_view key, std::string_view json) {
        text_ += text_.empty() ? "{" : ", ";
        io::detail::append_json_string(text_, key);
        text_ += ": ";
        text_ += json;
        return *this;
    }
    std::string str() const { return text_.empty() ? "{}" : text_ + "}"; }

private:
    std::string text_;
};

inline std::string json_string_list(const std::vector<std::string>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) s += ", ";
        io::detail::append_json_string(s, v[i]);
    }
    return s + "]";
}

}  // namespace detail

// The "operations" field of a Map node: [{"tensor_op_name": ..., "tensor_op_params": ...}, ...].
inline std::string operations_json(const std::vector<PreprocessOp>& ops) {
    std::string s = "[";
    for (std::size_t i = 0; i < ops.size(); ++i) {
        if (i) s += ", ";
        s += "{\"tensor_op_name\": ";
        io::detail::append_json_string(s, ops[i].tensor_op_name);
        s += ", \"tensor_op_params\": " + ops[i].tensor_op_params + "}";
    }
    return s + "]";
}

}  // namespace mindsave::data
