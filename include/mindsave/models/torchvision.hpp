// torchvision's ResNet50 as a compile-time schema, and the complete name map from it to ResNet50<N>
// (mindvision's names), checked complete by static_assert; `mindsave convert --map builtin:torchvision-resnet50`.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/name_rules.hpp"
#include "mindsave/core/schema.hpp"
#include "mindsave/models/resnet50.hpp"

namespace mindsave::torchvision {

// torchvision.models.resnet50(num_classes=N).state_dict(): names, shapes and dtypes in its order.
// Each BatchNorm holds weight, bias, running_mean, running_var and an Int64 0-d num_batches_tracked.
constexpr std::vector<ParameterSpec> resnet50_schema(std::size_t num_classes = 1000) {
    std::vector<ParameterSpec> s;
    auto conv = [&](const std::string& name, std::size_t out, std::size_t in, std::size_t k) {
        s.push_back({name + ".weight", {out, in, k, k}});
    };
    auto bn = [&](const std::string& name, std::size_t c) {
        s.push_back({name + ".weight", {c}});
        s.push_back({name + ".bias", {c}});
        s.push_back({name + ".running_mean", {c}, DType::Float32, false});
        s.push_back({name + ".running_var", {c}, DType::Float32, false});
        s.push_back({name + ".num_batches_tracked", {}, DType::Int64, false});
    };
    conv("conv1", 64, 3, 7);
    bn("bn1", 64);
    const std::size_t blocks[4] = {3, 4, 6, 3}, widths[4] = {64, 128, 256, 512};
    std::size_t in = 64;
    for (std::size_t stage = 0; stage < 4; ++stage) {
        const std::size_t w = widths[stage];
        for (std::size_t b = 0; b < blocks[stage]; ++b) {
            const std::string p = "layer" + detail::decimal(stage + 1) + "." + detail::decimal(b) + ".";
            conv(p + "conv1", w, in, 1);
            bn(p + "bn1", w);
            conv(p + "conv2", w, w, 3);
            bn(p + "bn2", w);
            conv(p + "conv3", 4 * w, w, 1);
            bn(p + "bn3", 4 * w);
            if (b == 0) {  // torchvision: stride != 1 or a width change, so every stage's first block
                conv(p + "downsample.0", 4 * w, in, 1);
                bn(p + "downsample.1", 4 * w);
            }
            in = 4 * w;
        }
    }
    s.push_back({"fc.weight", {num_classes, 2048}});
    s.push_back({"fc.bias", {num_classes}});
    return s;
}

// torchvision's names -> mindvision's, BatchNorm fields included (so convert's own BatchNorm
// renaming finds nothing left to do); num_batches_tracked has no counterpart and is dropped.
inline constexpr NameRule resnet50_to_mindvision[] = {
    {"conv1.weight", "backbone.conv1.features.0.weight"},
    {"bn1.running_mean", "backbone.conv1.features.1.moving_mean"},
    {"bn1.running_var", "backbone.conv1.features.1.moving_variance"},
    {"bn1.weight", "backbone.conv1.features.1.gamma"},
    {"bn1.bias", "backbone.conv1.features.1.beta"},
    {"layer*.conv*.weight", "backbone.layer*.conv*.features.0.weight"},
    {"layer*.bn*.running_mean", "backbone.layer*.conv*.features.1.moving_mean"},
    {"layer*.bn*.running_var", "backbone.layer*.conv*.features.1.moving_variance"},
    {"layer*.bn*.weight", "backbone.layer*.conv*.features.1.gamma"},
    {"layer*.bn*.bias", "backbone.layer*.conv*.features.1.beta"},
    {"layer*.downsample.0.weight", "backbone.layer*.down_sample.features.0.weight"},
    {"layer*.downsample.1.running_mean", "backbone.layer*.down_sample.features.1.moving_mean"},
    {"layer*.downsample.1.running_var", "backbone.layer*.down_sample.features.1.moving_variance"},
    {"layer*.downsample.1.weight", "backbone.layer*.down_sample.features.1.gamma"},
    {"layer*.downsample.1.bias", "backbone.layer*.down_sample.features.1.beta"},
    {"*.num_batches_tracked", "-"},
    {"fc.*", "head.dense.*"},
};

// Complete: name_map_problems(resnet50_schema(N), resnet50_to_mindvision, parameter_schema<ResNet50<N>>())
// is empty, checked by static_assert in tests/name_map_static_check.cpp. (Not here: the check costs every
// includer seconds and more constant-evaluation steps than GCC allows by default, -fconstexpr-ops-limit.)

// The maps `mindsave convert --map builtin:NAME` knows, with the parameter order of their target.
struct BuiltinMap {
    std::string_view name, description;
    std::span<const NameRule> rules;
    std::vector<ParameterSpec> (*target_schema)();
};
inline constexpr BuiltinMap builtin_maps[] = {
    {"torchvision-resnet50", "torchvision.models.resnet50 state dict -> mindvision ResNet50 (ResNet50<N>)",
     resnet50_to_mindvision, [] { return parameter_schema<ResNet50<1000>>(); }},
};

}  // namespace mindsave::torchvision
