// MindSpore's geometric image transforms besides Resize: vision::CenterCrop (zero padding when the crop
// is larger, as MindSpore pads) and vision::RandomHorizontalFlip, on HWC images of any element type.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/rng.hpp"
#include "mindsave/data/image.hpp"
#include "mindsave/data/preprocess.hpp"

namespace mindsave::data::vision {

// vision.CenterCrop(size) or ((height, width)): the window at offset floor((H - h) / 2), floor((W - w) / 2).
// A side shorter than the crop is padded with zeros first, the odd pixel on the top / left, as MindSpore
// does (it refuses padding of three times the side or more).
class CenterCrop {
public:
    explicit CenterCrop(std::size_t size) : CenterCrop(size, size) {}
    CenterCrop(std::size_t height, std::size_t width) : height_(height), width_(width) {
        if (height == 0 || width == 0)
            throw ConfigError("vision::CenterCrop needs a positive size, got " + std::to_string(height) + " x " +
                              std::to_string(width));
    }
    std::size_t height() const noexcept { return height_; }
    std::size_t width() const noexcept { return width_; }
    PreprocessOp mindspore_op() const {
        return {"CenterCrop", data::detail::JsonParams().numbers("size", std::vector<std::size_t>{height_, width_}).str()};
    }

    template <class In>
    using output_t = In;

    template <class In>
    void operator()(const Image<In>& in, Image<In>& out) const {
        if (in.encoded()) data::detail::throw_encoded("vision::CenterCrop");
        if (in.layout != Layout::HWC) throw ConfigError("vision::CenterCrop expects an HWC image; apply HWC2CHW after it");
        if ((height_ > in.height && height_ - in.height >= 3 * in.height) ||
            (width_ > in.width && width_ - in.width >= 3 * in.width))
            throw ShapeError("vision::CenterCrop of " + std::to_string(height_) + "x" + std::to_string(width_) + " from a " +
                             std::to_string(in.height) + "x" + std::to_string(in.width) +
                             " image would pad three times its side or more (MindSpore refuses it too); resize first");
        const std::size_t c = in.channels;
        out.reshape(height_, width_, c, Layout::HWC);
        out.origin = in.origin;
        // Source row / column of output row / column 0 (negative: that many rows / columns of padding).
        const auto start = [](std::size_t side, std::size_t crop) {
            return crop <= side ? static_cast<std::ptrdiff_t>((side - crop) / 2)
                                : -static_cast<std::ptrdiff_t>((crop - side + 1) / 2);
        };
        const std::ptrdiff_t y0 = start(in.height, height_), x0 = start(in.width, width_);
        const std::ptrdiff_t h = static_cast<std::ptrdiff_t>(in.height), w = static_cast<std::ptrdiff_t>(in.width);
        const std::ptrdiff_t xa = std::max<std::ptrdiff_t>(0, -x0), xb = std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(width_), w - x0);
        for (std::size_t y = 0; y < height_; ++y) {
            In* d = out.data.data() + y * width_ * c;
            const std::ptrdiff_t sy = y0 + static_cast<std::ptrdiff_t>(y);
            if (sy < 0 || sy >= h) {
                std::fill_n(d, width_ * c, In{});
                continue;
            }
            std::fill_n(d, static_cast<std::size_t>(xa) * c, In{});
            const In* s = in.data.data() + (static_cast<std::size_t>(sy) * in.width + static_cast<std::size_t>(x0 + xa)) * c;
            std::copy_n(s, static_cast<std::size_t>(xb - xa) * c, d + static_cast<std::size_t>(xa) * c);
            std::fill(d + static_cast<std::size_t>(xb) * c, d + width_ * c, In{});
        }
    }

private:
    std::size_t height_, width_;
};

// vision.RandomHorizontalFlip(prob): mirrors the image left to right with probability prob. The draw
// comes from the pipeline's per-sample seed mixed with this transform's seed, so it repeats when an
// epoch is replayed (MindSpore's draws come from its global seed and cannot be matched exactly).
class RandomHorizontalFlip {
public:
    explicit RandomHorizontalFlip(double prob = 0.5, std::uint64_t seed = 0) : prob_(prob), seed_(seed) {
        if (!(prob >= 0.0 && prob <= 1.0))
            throw ConfigError("vision::RandomHorizontalFlip prob must lie in [0, 1], got " + std::to_string(prob));
    }
    double prob() const noexcept { return prob_; }
    PreprocessOp mindspore_op() const {
        return {"RandomHorizontalFlip", data::detail::JsonParams().number("prob", static_cast<float>(prob_)).str()};
    }

    template <class In>
    using output_t = In;

    template <class In>
    void operator()(const Image<In>& in, Image<In>& out, std::uint64_t sample_seed) const {
        if (in.encoded()) data::detail::throw_encoded("vision::RandomHorizontalFlip");
        if (in.layout != Layout::HWC) throw ConfigError("vision::RandomHorizontalFlip expects an HWC image");
        Generator g(sample_seed ^ (seed_ * 0x9e3779b97f4a7c15ull));
        out.reshape(in.height, in.width, in.channels, Layout::HWC);
        out.origin = in.origin;
        if (g.uniform() >= prob_) {
            std::copy(in.data.begin(), in.data.end(), out.data.begin());
            return;
        }
        const std::size_t c = in.channels, w = in.width;
        for (std::size_t y = 0; y < in.height; ++y) {
            const In* s = in.data.data() + y * w * c;
            In* d = out.data.data() + y * w * c;
            for (std::size_t x = 0; x < w; ++x) std::copy_n(s + (w - 1 - x) * c, c, d + x * c);
        }
    }

private:
    double prob_;
    std::uint64_t seed_;
};

}  // namespace mindsave::data::vision
