// The ResNet50-size parameter set the benchmarks save and load: mindcv's names and shapes (docs/formats.md section 9.3),
// held by a user's own struct of xt::xarray<float> (no mindsave layers), filled with cheap noise.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <xtensor/xarray.hpp>

#include "mindsave/core/tensor.hpp"

namespace mindsave::bench {

// ResNet50's parameters with mindcv's names and shapes (docs/formats.md section 9.3): 267 Float32 tensors, 25.6 M values.
struct ParamSpec {
    std::string name;
    mindsave::Shape shape;
};
std::vector<ParamSpec> resnet50_schema() {
    std::vector<ParamSpec> s;
    auto bn = [&](const std::string& p, std::size_t c) {
        for (const char* n : {"moving_mean", "moving_variance", "gamma", "beta"}) s.push_back({p + "." + n, {c}});
    };
    s.push_back({"conv1.weight", {64, 3, 7, 7}});
    bn("bn1", 64);
    const std::size_t blocks[4] = {3, 4, 6, 3};
    std::size_t in = 64;
    for (std::size_t stage = 0; stage < 4; ++stage) {
        const std::size_t width = std::size_t{64} << stage, out = width * 4;
        for (std::size_t b = 0; b < blocks[stage]; ++b) {
            const std::string p = "layer" + std::to_string(stage + 1) + "." + std::to_string(b);
            s.push_back({p + ".conv1.weight", {width, in, 1, 1}});
            bn(p + ".bn1", width);
            s.push_back({p + ".conv2.weight", {width, width, 3, 3}});
            bn(p + ".bn2", width);
            s.push_back({p + ".conv3.weight", {out, width, 1, 1}});
            bn(p + ".bn3", out);
            if (b == 0) {
                s.push_back({p + ".down_sample.0.weight", {out, in, 1, 1}});
                bn(p + ".down_sample.1", out);
            }
            in = out;
        }
    }
    s.push_back({"classifier.weight", {1000, 2048}});
    s.push_back({"classifier.bias", {1000}});
    return s;
}

// A user's own parameter holder, no mindsave layers: names beside xt::xarray<float> values.
struct ResNet50Weights {
    std::vector<std::string> names;
    std::vector<xt::xarray<float>> values;

    ResNet50Weights() {
        std::uint32_t x = 7;  // a cheap LCG: incompressible-looking values without a slow setup
        for (auto& p : resnet50_schema()) {
            names.push_back(p.name);
            auto& t = values.emplace_back(xt::xarray<float>::from_shape(p.shape));
            for (auto& v : t) x = x * 1664525u + 1013904223u, v = static_cast<float>(x >> 8) * 0x1p-24f - 0.5f;
        }
    }
    std::size_t bytes() const {
        std::size_t n = 0;
        for (const auto& v : values) n += v.size() * sizeof(float);
        return n;
    }
    template <class F>
    void visit_parameters(F&& f) {
        for (std::size_t i = 0; i < values.size(); ++i) f(std::string_view(names[i]), values[i]);
    }
};

}  // namespace mindsave::bench
