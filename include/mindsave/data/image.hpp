// One sample's image as a pipeline's transforms see it (HWC or CHW pixels, or a file's encoded bytes),
// and the concepts a transform meets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mindsave/core/errors.hpp"

namespace mindsave::data {

// HWC and CHW hold pixels; Encoded holds a file's bytes (height 1, width = the byte count, one channel),
// as MindSpore's datasets give an image before vision::Decode.
enum class Layout : std::uint8_t { HWC, CHW, Encoded };

// One sample's image as transforms see it. A transform writes into an output image that the
// pipeline keeps from sample to sample, so same-sized images never allocate.
template <class T>
struct Image {
    using value_type = T;
    std::size_t height = 0, width = 0, channels = 0;
    Layout layout = Layout::HWC;
    std::vector<T> data;
    std::string origin;  // the file the image came from, for error messages (empty for arrays in memory)

    void reshape(std::size_t h, std::size_t w, std::size_t c, Layout l = Layout::HWC) {
        height = h, width = w, channels = c, layout = l;
        data.resize(h * w * c);
    }
    std::size_t size() const noexcept { return data.size(); }
    bool encoded() const noexcept { return layout == Layout::Encoded; }
    // Element at row y, column x, channel ch in either layout.
    std::size_t index(std::size_t y, std::size_t x, std::size_t ch) const noexcept {
        return layout == Layout::HWC ? (y * width + x) * channels + ch : (ch * height + y) * width + x;
    }
    T& at(std::size_t y, std::size_t x, std::size_t ch) noexcept { return data[index(y, x, ch)]; }
    const T& at(std::size_t y, std::size_t x, std::size_t ch) const noexcept { return data[index(y, x, ch)]; }
};

// A transform maps an Image<In> to an Image<output_t<In>>: t(in, out), out reused between calls.
// A random transform takes a third argument, a seed the pipeline derives from (epoch, position in
// the epoch), so its draws repeat exactly when an epoch is replayed or resumed.
template <class T, class In>
concept RandomTransformOn = requires { typename T::template output_t<In>; } &&
                            requires(T& t, const Image<In>& in, Image<typename T::template output_t<In>>& out,
                                     std::uint64_t sample_seed) { t(in, out, sample_seed); };
template <class T, class In>
concept TransformOn = RandomTransformOn<T, In> ||
                      (requires { typename T::template output_t<In>; } &&
                       requires(T& t, const Image<In>& in, Image<typename T::template output_t<In>>& out) {
                           t(in, out);
                       });

namespace detail {
// The error a pixel transform gives an image that is still a file's bytes.
[[noreturn]] inline void throw_encoded(const char* transform) {
    throw ConfigError(std::string(transform) +
                      " got an image that is still encoded (a file's bytes, as ImageFolderDataset gives with "
                      "decode = false); map vision::Decode() before it");
}
}  // namespace detail

}  // namespace mindsave::data
