// A network type's parameter schema (names, shapes, dtypes, trainability, in save order), computed
// at compile time from the layer types, so name maps and files can be checked with static_assert.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/dtype.hpp"
#include "mindsave/core/tensor.hpp"

namespace mindsave {

// One parameter of a schema, as visit_parameters would report it.
struct ParameterSpec {
    std::string name;
    Shape shape;
    DType dtype = DType::Float32;
    bool trainable = true;  // a Parameter (false: state saved without a gradient, like BatchNorm's moving_*)
    constexpr bool operator==(const ParameterSpec&) const = default;
};

class SchemaBuilder;

// A layer with parameters describes them statically: L::describe_parameters(builder) adds each one,
// in visit_parameters' order, through builder.add / builder.child.
template <class L>
concept DescribesParameters = requires(SchemaBuilder& b) { L::describe_parameters(b); };

// Collects ParameterSpecs under dotted paths, the way PathVisitor builds visit_parameters' paths.
class SchemaBuilder {
public:
    constexpr void add(std::string_view name, std::initializer_list<std::size_t> shape, bool trainable = true,
                       DType dtype = DType::Float32) {
        specs_.push_back({path_of(name), Shape(shape), dtype, trainable});
    }
    // L's parameters under name ("" for none: Residual's body and shortcut add no level).
    template <class L>
    constexpr void child(std::string_view name) {
        const std::size_t keep = path_.size();
        if (!name.empty()) {
            if (keep) path_ += '.';
            path_ += name;
        }
        describe<L>();
        path_.resize(keep);
    }
    template <class L>
    constexpr void describe() {
        if constexpr (DescribesParameters<L>) L::describe_parameters(*this);
        else
            static_assert(!HasParameters<L>,
                          "this layer has parameters but no `static constexpr void describe_parameters(SchemaBuilder&)`, "
                          "so its network's parameter schema cannot be computed at compile time");
    }
    constexpr std::vector<ParameterSpec> take() && { return std::move(specs_); }

private:
    constexpr std::string path_of(std::string_view name) const {
        std::string p = path_;
        if (!p.empty()) p += '.';
        p += name;
        return p;
    }
    std::string path_;
    std::vector<ParameterSpec> specs_;
};

namespace detail {
// Decimal digits of n, at compile time (std::to_string is not constexpr).
constexpr std::string decimal(std::size_t n) {
    std::string s;
    do {
        s.insert(s.begin(), static_cast<char>('0' + n % 10));
        n /= 10;
    } while (n);
    return s;
}
}  // namespace detail

// Net's parameters in save order; usable in constant expressions (static_assert) and at run time.
template <class Net>
constexpr std::vector<ParameterSpec> parameter_schema() {
    SchemaBuilder b;
    b.describe<Net>();
    return std::move(b).take();
}

}  // namespace mindsave
