// Where a pipeline's samples come from: a count, a label per sample, and a way to fill one sample's
// image. Arrays in memory (MNIST) and files on disk (ImageFolderDataset) are both sources.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/data/transforms.hpp"

namespace mindsave::data {

// Samples in memory: count images of height x width x channels uint8 (HWC) and their labels.
struct SampleArrays {
    std::size_t count = 0, height = 0, width = 0, channels = 1;
    std::vector<std::uint8_t> images;
    std::vector<std::int32_t> labels;

    std::size_t image_size() const noexcept { return height * width * channels; }
};

// The source of a pipeline. read() is const and may run for different samples at once on different
// threads; what it needs between calls lives in the caller's Image.
class SampleSource {
public:
    virtual ~SampleSource() = default;
    virtual std::size_t size() const noexcept = 0;
    virtual std::int32_t label(std::size_t i) const = 0;
    // Fills out with sample i: decoded HWC pixels, or a file's bytes as Layout::Encoded.
    virtual void read(std::size_t i, Image<std::uint8_t>& out) const = 0;
    // A hint that sample i is read soon (shuffled samples sit at random places in memory).
    virtual void prefetch(std::size_t) const noexcept {}
};

// SampleArrays as a source: read() copies the image, which is then the first stage's to change.
class ArraySource final : public SampleSource {
public:
    explicit ArraySource(SampleArrays samples) : s_(std::move(samples)) {
        if (s_.images.size() != s_.count * s_.image_size() || s_.labels.size() != s_.count)
            throw ShapeError("SampleArrays of " + std::to_string(s_.count) + " samples of " + std::to_string(s_.height) +
                             "x" + std::to_string(s_.width) + "x" + std::to_string(s_.channels) + " need " +
                             std::to_string(s_.count * s_.image_size()) + " image bytes and " +
                             std::to_string(s_.count) + " labels, got " + std::to_string(s_.images.size()) + " and " +
                             std::to_string(s_.labels.size()));
    }

    const SampleArrays& arrays() const noexcept { return s_; }
    std::size_t size() const noexcept override { return s_.count; }
    std::int32_t label(std::size_t i) const override { return s_.labels[i]; }
    void read(std::size_t i, Image<std::uint8_t>& out) const override {
        const std::size_t n = s_.image_size();
        out.reshape(s_.height, s_.width, s_.channels);
        std::copy_n(s_.images.data() + i * n, n, out.data.data());
    }
    void prefetch(std::size_t i) const noexcept override {
        const std::uint8_t* p = s_.images.data() + i * s_.image_size();
        for (std::size_t off = 0; off < s_.image_size(); off += 64) __builtin_prefetch(p + off);
    }

private:
    SampleArrays s_;
};

}  // namespace mindsave::data
