// MindSpore's vision.RandomCropDecodeResize: a random area and aspect-ratio crop of an encoded image,
// decoded and resized in one step (the training-time augmentation of the seed flows). Part of mindsave::vision.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/rng.hpp"
#include "mindsave/data/image.hpp"
#include "mindsave/data/preprocess.hpp"
#include "mindsave/data/resize.hpp"
#include "mindsave/data/vision/decode.hpp"

namespace mindsave::data::vision {

// A crop window: columns [x, x + width), rows [y, y + height).
struct CropBox {
    std::size_t x = 0, y = 0, width = 0, height = 0;
    bool operator==(const CropBox&) const = default;
};

// MindSpore's GetCropBox: up to max_attempts draws of an area fraction in [scale_lo, scale_hi] and a
// log-uniform aspect ratio in [ratio_lo, ratio_hi]; the first box that fits is placed uniformly.
// Otherwise the image is cut to the nearest allowed aspect ratio, centred.
inline CropBox random_crop_box(std::size_t height, std::size_t width, std::pair<float, float> scale,
                               std::pair<float, float> ratio, std::size_t max_attempts, Generator& g) {
    const double h = static_cast<double>(height), w = static_cast<double>(width);
    const double log_lo = std::log(ratio.first), log_hi = std::log(ratio.second);
    for (std::size_t i = 0; i < max_attempts; ++i) {
        const double s = static_cast<float>(g.uniform(scale.first, scale.second));
        const double aspect = std::exp(static_cast<float>(g.uniform(log_lo, log_hi)));
        const auto cw = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::round(std::sqrt(h * w * s * aspect))));
        const auto ch = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::round(static_cast<double>(cw) / aspect)));
        if (cw <= static_cast<std::int64_t>(width) && ch <= static_cast<std::int64_t>(height)) {
            CropBox b{0, 0, static_cast<std::size_t>(cw), static_cast<std::size_t>(ch)};
            b.x = static_cast<std::size_t>(g.below(width - b.width + 1));
            b.y = static_cast<std::size_t>(g.below(height - b.height + 1));
            return b;
        }
    }
    CropBox b{0, 0, width, height};
    const double aspect = w / h;
    if (aspect < ratio.first) b.height = static_cast<std::size_t>(std::round(w / ratio.first));
    else if (aspect > ratio.second) b.width = static_cast<std::size_t>(std::round(h * ratio.second));
    b.x = static_cast<std::size_t>(std::round(static_cast<float>(width - b.width) / 2.f));
    b.y = static_cast<std::size_t>(std::round(static_cast<float>(height - b.height) / 2.f));
    return b;
}

// vision.RandomCropDecodeResize(size, scale, ratio, interpolation, max_attempts) on an encoded image:
// decode, take random_crop_box, resize the window to size with the interpolation. Draws come from the
// pipeline's per-sample seed mixed with this transform's seed (MindSpore's global-seed draws cannot be
// matched). MindSpore decodes only the window of a JPEG, whose last column can differ by a few levels
// from cropping the whole decode, as here; the rest is the same arithmetic.
class RandomCropDecodeResize {
public:
    RandomCropDecodeResize(std::size_t height, std::size_t width, std::pair<float, float> scale = {0.08f, 1.f},
                           std::pair<float, float> ratio = {3.f / 4.f, 4.f / 3.f}, Inter interpolation = Inter::LINEAR,
                           std::size_t max_attempts = 10, std::uint64_t seed = 0)
        : resize_(height, width, interpolation), scale_(scale), ratio_(ratio), max_attempts_(max_attempts), seed_(seed) {
        if (!(scale.first >= 0 && scale.first <= scale.second))
            throw ConfigError("vision::RandomCropDecodeResize scale must be a range [lo, hi] with 0 <= lo <= hi, got [" +
                              std::to_string(scale.first) + ", " + std::to_string(scale.second) + "]");
        if (!(ratio.first > 0 && ratio.first <= ratio.second))
            throw ConfigError("vision::RandomCropDecodeResize ratio must be a range [lo, hi] with 0 < lo <= hi, got [" +
                              std::to_string(ratio.first) + ", " + std::to_string(ratio.second) + "]");
        if (max_attempts == 0) throw ConfigError("vision::RandomCropDecodeResize max_attempts must be at least 1");
    }
    explicit RandomCropDecodeResize(std::size_t size) : RandomCropDecodeResize(size, size) {}

    std::size_t height() const noexcept { return resize_.height(); }
    std::size_t width() const noexcept { return resize_.width(); }
    std::pair<float, float> scale() const noexcept { return scale_; }
    std::pair<float, float> ratio() const noexcept { return ratio_; }
    Inter interpolation() const noexcept { return resize_.interpolation(); }
    std::size_t max_attempts() const noexcept { return max_attempts_; }
    PreprocessOp mindspore_op() const {
        return {"RandomCropDecodeResize",
                data::detail::JsonParams()
                    .integer("interpolation", static_cast<int>(interpolation()))
                    .integer("max_attempts", static_cast<long long>(max_attempts_))
                    .numbers("ratio", std::vector<float>{ratio_.first, ratio_.second})
                    .numbers("scale", std::vector<float>{scale_.first, scale_.second})
                    .numbers("size", std::vector<std::size_t>{height(), width()})
                    .str()};
    }

    template <class In>
    using output_t = std::uint8_t;

    template <class In>
        requires std::same_as<In, std::uint8_t>
    void operator()(const Image<In>& in, Image<std::uint8_t>& out, std::uint64_t sample_seed) {
        if (!in.encoded())
            throw ConfigError("vision::RandomCropDecodeResize takes an encoded image (a file's bytes: ImageFolderDataset "
                              "with decode = false); for decoded images use a crop and vision::Resize");
        decode_image(in.data, decoded_, in.origin.empty() ? std::string_view("<memory>") : std::string_view(in.origin));
        Generator g(sample_seed ^ (seed_ * 0x9e3779b97f4a7c15ull));
        const CropBox b = random_crop_box(decoded_.height, decoded_.width, scale_, ratio_, max_attempts_, g);
        const std::size_t c = decoded_.channels;
        window_.reshape(b.height, b.width, c);
        for (std::size_t y = 0; y < b.height; ++y)
            std::copy_n(decoded_.data.data() + ((b.y + y) * decoded_.width + b.x) * c, b.width * c,
                        window_.data.data() + y * b.width * c);
        resize_(window_, out);
        out.origin = in.origin;
    }

private:
    Resize resize_;
    std::pair<float, float> scale_, ratio_;
    std::size_t max_attempts_;
    std::uint64_t seed_;
    Image<std::uint8_t> decoded_, window_;  // reused from sample to sample
};

}  // namespace mindsave::data::vision
