// Weight initializers named as MindSpore's (mindspore.common.initializer), seeded through Generator.
// Each is a small type: fill(span, fan_in, fan_out, generator); float settings are template arguments (Real).
#pragma once

#include <cmath>
#include <cstddef>
#include <span>

#include "mindsave/core/real.hpp"
#include "mindsave/core/rng.hpp"

namespace mindsave::init {

// Normal(sigma=0.01, mean=0.0)
template <Real Sigma = 0.01, Real Mean = 0.0>
struct Normal {
    void fill(std::span<float> w, std::size_t, std::size_t, Generator& g) const {
        for (auto& v : w) v = static_cast<float>(g.normal(Mean, Sigma));
    }
};

// Uniform(scale=0.07): U(-scale, scale)
template <Real Scale = 0.07>
struct Uniform {
    void fill(std::span<float> w, std::size_t, std::size_t, Generator& g) const {
        for (auto& v : w) v = static_cast<float>(g.uniform(-Scale, Scale));
    }
};

// MindSpore 2.x's default bias init for Conv2d and Dense: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
struct FanInUniform {
    void fill(std::span<float> w, std::size_t fan_in, std::size_t, Generator& g) const {
        const double bound = fan_in ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
        for (auto& v : w) v = static_cast<float>(g.uniform(-bound, bound));
    }
};

// HeUniform(negative_slope=sqrt(5), mode='fan_in'): MindSpore 2.x's default Conv2d / Dense weight init.
template <Real NegativeSlope = 2.23606797749979>
struct HeUniform {
    void fill(std::span<float> w, std::size_t fan_in, std::size_t, Generator& g) const {
        const double gain = std::sqrt(2.0 / (1.0 + NegativeSlope * NegativeSlope));
        const double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_in ? fan_in : 1));
        for (auto& v : w) v = static_cast<float>(g.uniform(-bound, bound));
    }
};

// HeNormal(negative_slope=0, mode='fan_in')
template <Real NegativeSlope = 0.0>
struct HeNormal {
    void fill(std::span<float> w, std::size_t fan_in, std::size_t, Generator& g) const {
        const double gain = std::sqrt(2.0 / (1.0 + NegativeSlope * NegativeSlope));
        const double sigma = gain / std::sqrt(static_cast<double>(fan_in ? fan_in : 1));
        for (auto& v : w) v = static_cast<float>(g.normal(0.0, sigma));
    }
};

// XavierUniform(gain=1)
template <Real Gain = 1.0>
struct XavierUniform {
    void fill(std::span<float> w, std::size_t fan_in, std::size_t fan_out, Generator& g) const {
        const double bound = Gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out ? fan_in + fan_out : 1));
        for (auto& v : w) v = static_cast<float>(g.uniform(-bound, bound));
    }
};

template <Real Value>
struct Constant {
    void fill(std::span<float> w, std::size_t, std::size_t, Generator&) const {
        for (auto& v : w) v = static_cast<float>(Value);
    }
};
using Zero = Constant<0.0>;
using One = Constant<1.0>;

template <class I>
concept Initializer = requires(const I& i, std::span<float> w, std::size_t n, Generator& g) { i.fill(w, n, n, g); };

}  // namespace mindsave::init
