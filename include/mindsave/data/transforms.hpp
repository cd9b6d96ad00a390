// MindSpore's per-pixel and layout image transforms as small value types: vision::Rescale,
// vision::Normalize, vision::HWC2CHW and transforms::TypeCast<T>; with resize.hpp and crop.hpp, the rest.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mindsave/core/dtype.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/data/crop.hpp"
#include "mindsave/data/image.hpp"
#include "mindsave/data/preprocess.hpp"
#include "mindsave/data/resize.hpp"

namespace mindsave::data {

namespace vision {

// out = in * rescale + shift in float32, as MindSpore's vision.Rescale (its factors are float32).
struct Rescale {
    double rescale = 1.0;
    double shift = 0.0;

    PreprocessOp mindspore_op() const {  // MindSpore keeps the factors as float32
        return {"Rescale", data::detail::JsonParams()
                               .number("rescale", static_cast<float>(rescale))
                               .number("shift", static_cast<float>(shift))
                               .str()};
    }

    template <class In>
    using output_t = float;

    template <class In>
        requires std::is_arithmetic_v<In>
    void operator()(const Image<In>& in, Image<float>& out) const {
        if (in.encoded()) data::detail::throw_encoded("vision::Rescale");
        out.reshape(in.height, in.width, in.channels, in.layout);
        const float a = static_cast<float>(rescale), b = static_cast<float>(shift);
        const In* s = in.data.data();
        float* d = out.data.data();
        for (std::size_t i = 0, n = in.size(); i < n; ++i) d[i] = static_cast<float>(s[i]) * a + b;
    }
};

// vision.Normalize(mean, std, is_hwc): out = (float(x) - mean[c]) / std[c] in float32, a true division
// as MindSpore computes it. One mean / std value applies to every channel; is_hwc must agree with the
// image's layout (it is kept for MindSpore's serialized pipelines).
class Normalize {
public:
    Normalize(std::vector<float> mean, std::vector<float> std, bool is_hwc = true)
        : mean_(std::move(mean)), std_(std::move(std)), is_hwc_(is_hwc) {
        if (mean_.empty() || mean_.size() != std_.size())
            throw ConfigError("vision::Normalize needs as many std values as mean values (one, or one per channel), got " +
                              std::to_string(mean_.size()) + " and " + std::to_string(std_.size()));
        for (float s : std_)
            if (!(s > 0.f)) throw ConfigError("vision::Normalize std values must be positive, got " + std::to_string(s));
    }
    const std::vector<float>& mean() const noexcept { return mean_; }
    const std::vector<float>& std() const noexcept { return std_; }
    bool is_hwc() const noexcept { return is_hwc_; }
    PreprocessOp mindspore_op() const {
        return {"Normalize", data::detail::JsonParams()
                                 .string("device_target", "CPU")
                                 .boolean("is_hwc", is_hwc_)
                                 .numbers("mean", mean_)
                                 .numbers("std", std_)
                                 .str()};
    }

    template <class In>
    using output_t = float;

    template <class In>
        requires std::is_arithmetic_v<In>
    void operator()(const Image<In>& in, Image<float>& out) const {
        if (in.encoded()) data::detail::throw_encoded("vision::Normalize");
        if ((in.layout == Layout::HWC) != is_hwc_)
            throw ConfigError(std::string("vision::Normalize with is_hwc = ") + (is_hwc_ ? "true" : "false") + " got a" +
                              (in.layout == Layout::HWC ? "n HWC" : " CHW") + " image");
        if (mean_.size() != 1 && mean_.size() != in.channels)
            throw ShapeError("vision::Normalize has " + std::to_string(mean_.size()) + " mean values for an image of " +
                             std::to_string(in.channels) + " channels");
        out.reshape(in.height, in.width, in.channels, in.layout);
        out.origin = in.origin;
        const std::size_t c = in.channels, plane = in.height * in.width;
        const In* s = in.data.data();
        float* d = out.data.data();
        const auto m = [&](std::size_t ch) { return mean_[mean_.size() == 1 ? 0 : ch]; };
        const auto sd = [&](std::size_t ch) { return std_[std_.size() == 1 ? 0 : ch]; };
        if (in.layout == Layout::HWC) {
            for (std::size_t p = 0; p < plane; ++p)
                for (std::size_t ch = 0; ch < c; ++ch) d[p * c + ch] = (static_cast<float>(s[p * c + ch]) - m(ch)) / sd(ch);
        } else {
            for (std::size_t ch = 0; ch < c; ++ch) {
                const float mc = m(ch), sc = sd(ch);
                for (std::size_t p = 0; p < plane; ++p) d[ch * plane + p] = (static_cast<float>(s[ch * plane + p]) - mc) / sc;
            }
        }
    }

private:
    std::vector<float> mean_, std_;
    bool is_hwc_;
};

// Moves channels first (HWC -> CHW), as MindSpore's vision.HWC2CHW; batches then come out NCHW.
struct HWC2CHW {
    PreprocessOp mindspore_op() const { return {"HwcToChw", "null"}; }  // MindSpore writes no params: null
    template <class In>
    using output_t = In;

    template <class In>
    void operator()(const Image<In>& in, Image<In>& out) const {
        if (in.encoded()) data::detail::throw_encoded("vision::HWC2CHW");
        if (in.layout != Layout::HWC) throw ConfigError("vision::HWC2CHW applied to an image that is already CHW");
        out.reshape(in.height, in.width, in.channels, Layout::CHW);
        const std::size_t plane = in.height * in.width, c = in.channels;
        if (c == 1) {
            std::copy(in.data.begin(), in.data.end(), out.data.begin());
            return;
        }
        for (std::size_t p = 0; p < plane; ++p)
            for (std::size_t ch = 0; ch < c; ++ch) out.data[ch * plane + p] = in.data[p * c + ch];
    }
};

}  // namespace vision

namespace transforms {

// Converts element type, as MindSpore's transforms.TypeCast. Floating values going to an integer
// type are clamped to its range and truncated toward zero, so no conversion is undefined.
template <class T>
    requires std::is_arithmetic_v<T>
struct TypeCast {
    PreprocessOp mindspore_op() const {  // MindSpore's DataType::ToString: "float32", "int32", "uint8"
        std::string name(dtype_name(dtype_of<T>::value));
        for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        return {"TypeCast", detail::JsonParams().string("data_type", name).str()};
    }
    template <class In>
    using output_t = T;

    template <class In>
        requires std::is_arithmetic_v<In>
    void operator()(const Image<In>& in, Image<T>& out) const {
        out.reshape(in.height, in.width, in.channels, in.layout);
        for (std::size_t i = 0, n = in.size(); i < n; ++i) out.data[i] = cast(in.data[i]);
    }

private:
    template <class In>
    static T cast(In v) noexcept {
        if constexpr (std::is_floating_point_v<In> && std::is_integral_v<T>) {
            if (std::isnan(v)) return T{0};
            const auto lo = static_cast<In>(std::numeric_limits<T>::lowest());
            const auto hi = static_cast<In>(std::numeric_limits<T>::max());
            if (v <= lo) return std::numeric_limits<T>::lowest();
            if (v >= hi) return std::numeric_limits<T>::max();
        }
        return static_cast<T>(v);
    }
};

}  // namespace transforms

}  // namespace mindsave::data
