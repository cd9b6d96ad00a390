// MindSpore's quick-start image transforms as small value types: vision::Resize (OpenCV's
// INTER_LINEAR, bit-exact on uint8), vision::Rescale, vision::HWC2CHW and transforms::TypeCast<T>.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
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

namespace detail {

// OpenCV's INTER_LINEAR tables for one input geometry (cv::resize, modules/imgproc/src/resize.cpp).
// Columns are clamped (sx < 0 or sx >= w-1 take one pixel with weight 1); rows are clamped but keep
// their fractional weights, exactly as OpenCV does. Weights exist as floats and as 11-bit fixed point.
struct LinearResizeTables {
    struct Tap {
        std::int32_t i0, i1;  // source element offsets within a row
        std::int32_t a0, a1;  // their fixed-point weights (sum 2048)
    };
    std::size_t in_h = 0, in_w = 0, channels = 0, out_h = 0, out_w = 0;
    std::vector<Tap> taps;               // per output element of a row
    std::vector<float> fa0, fa1;         // the same weights as floats
    std::vector<int> y0, y1;             // per output row: the two source rows
    std::vector<std::int16_t> b0, b1;    // their fixed-point weights
    std::vector<float> fb0, fb1;
    std::vector<std::uint8_t> row_used;  // source rows the vertical pass reads
    std::vector<std::int16_t> rows;      // horizontal results >> 4 (they fit: 255 * 2048 >> 4 = 32640)
    std::vector<float> frows;

    bool fits(std::size_t h, std::size_t w, std::size_t c, std::size_t oh, std::size_t ow) const noexcept {
        return in_h == h && in_w == w && channels == c && out_h == oh && out_w == ow;
    }

    void build(std::size_t h, std::size_t w, std::size_t c, std::size_t oh, std::size_t ow) {
        constexpr float one = 1 << 11;  // INTER_RESIZE_COEF_SCALE
        // saturate_cast<short>(float): round half to even, as cvRound does.
        auto fixed = [](float v) { return static_cast<std::int16_t>(std::clamp(std::lrint(v * one), -32768L, 32767L)); };
        in_h = h, in_w = w, channels = c, out_h = oh, out_w = ow;
        const double scale_x = 1.0 / (static_cast<double>(ow) / static_cast<double>(w));
        const double scale_y = 1.0 / (static_cast<double>(oh) / static_cast<double>(h));
        const int last_x = static_cast<int>(w) - 1, last_y = static_cast<int>(h) - 1, cn = static_cast<int>(c);
        taps.resize(ow * c), fa0.resize(ow * c), fa1.resize(ow * c);
        for (std::size_t dx = 0; dx < ow; ++dx) {
            float fx = static_cast<float>((static_cast<double>(dx) + 0.5) * scale_x - 0.5);
            int sx = static_cast<int>(std::floor(fx));
            fx -= static_cast<float>(sx);
            if (sx < 0) fx = 0, sx = 0;
            if (sx >= last_x) fx = 0, sx = last_x;
            const int sx1 = std::min(sx + 1, last_x);
            for (int k = 0; k < cn; ++k) {
                const std::size_t j = dx * c + static_cast<std::size_t>(k);
                taps[j] = {sx * cn + k, sx1 * cn + k, fixed(1.f - fx), fixed(fx)};
                fa0[j] = 1.f - fx, fa1[j] = fx;
            }
        }
        y0.resize(oh), y1.resize(oh), b0.resize(oh), b1.resize(oh), fb0.resize(oh), fb1.resize(oh);
        row_used.assign(h, 0);
        for (std::size_t dy = 0; dy < oh; ++dy) {
            float fy = static_cast<float>((static_cast<double>(dy) + 0.5) * scale_y - 0.5);
            const int sy = static_cast<int>(std::floor(fy));
            fy -= static_cast<float>(sy);
            y0[dy] = std::clamp(sy, 0, last_y), y1[dy] = std::clamp(sy + 1, 0, last_y);
            b0[dy] = fixed(1.f - fy), b1[dy] = fixed(fy), fb0[dy] = 1.f - fy, fb1[dy] = fy;
            row_used[static_cast<std::size_t>(y0[dy])] = row_used[static_cast<std::size_t>(y1[dy])] = 1;
        }
    }

    // uint8: OpenCV's HResizeLinear<uchar, int, short> then VResizeLinear<uchar, int, short>. The
    // horizontal pass is a gather; two rows share each table load, which is most of its cost.
    void run(const std::uint8_t* src, std::uint8_t* dst) {
        const std::size_t row = out_w * channels, in_row = in_w * channels;
        rows.resize(in_h * row);
        const Tap* t = taps.data();
        for (std::size_t r = 0; r < in_h; ++r) {
            if (!row_used[r]) continue;
            const std::uint8_t* s = src + r * in_row;
            std::int16_t* d = rows.data() + r * row;
            if (r + 1 < in_h && row_used[r + 1]) {
                const std::uint8_t* s2 = s + in_row;
                std::int16_t* d2 = d + row;
                for (std::size_t j = 0; j < row; ++j) {
                    const Tap k = t[j];
                    d[j] = static_cast<std::int16_t>((s[k.i0] * k.a0 + s[k.i1] * k.a1) >> 4);
                    d2[j] = static_cast<std::int16_t>((s2[k.i0] * k.a0 + s2[k.i1] * k.a1) >> 4);
                }
                ++r;
            } else {
                for (std::size_t j = 0; j < row; ++j)
                    d[j] = static_cast<std::int16_t>((s[t[j].i0] * t[j].a0 + s[t[j].i1] * t[j].a1) >> 4);
            }
        }
        // (b * (S >> 4)) >> 16 in 16-bit operands, which vectorizes as a multiply-high.
        for (std::size_t dy = 0; dy < out_h; ++dy) {
            const std::int16_t* s0 = rows.data() + static_cast<std::size_t>(y0[dy]) * row;
            const std::int16_t* s1 = rows.data() + static_cast<std::size_t>(y1[dy]) * row;
            const std::int16_t w0 = b0[dy], w1 = b1[dy];
            std::uint8_t* d = dst + dy * row;
            for (std::size_t j = 0; j < row; ++j) {
                const int v = (((w0 * s0[j]) >> 16) + ((w1 * s1[j]) >> 16) + 2) >> 2;
                d[j] = static_cast<std::uint8_t>(std::clamp(v, 0, 255));
            }
        }
    }

    // float: the same tables with float weights, as OpenCV's 32F path.
    void run(const float* src, float* dst) {
        const std::size_t row = out_w * channels, in_row = in_w * channels;
        frows.resize(in_h * row);
        for (std::size_t r = 0; r < in_h; ++r) {
            if (!row_used[r]) continue;
            const float* s = src + r * in_row;
            float* d = frows.data() + r * row;
            for (std::size_t j = 0; j < row; ++j) d[j] = s[taps[j].i0] * fa0[j] + s[taps[j].i1] * fa1[j];
        }
        for (std::size_t dy = 0; dy < out_h; ++dy) {
            const float* s0 = frows.data() + static_cast<std::size_t>(y0[dy]) * row;
            const float* s1 = frows.data() + static_cast<std::size_t>(y1[dy]) * row;
            const float w0 = fb0[dy], w1 = fb1[dy];
            float* d = dst + dy * row;
            for (std::size_t j = 0; j < row; ++j) d[j] = s0[j] * w0 + s1[j] * w1;
        }
    }
};

}  // namespace detail

namespace vision {

// Resizes an HWC image to height x width with OpenCV's INTER_LINEAR, as MindSpore's
// vision.Resize((h, w)) does. On uint8 it reproduces OpenCV's fixed-point arithmetic bit for bit:
// half-pixel centres in float, weights saturate_cast<short>(w * 2048), an int horizontal pass, and
// the vertical pass ((b0*(S0>>4))>>16) + ((b1*(S1>>4))>>16) + 2) >> 2 of VResizeLinear<uchar>.
// Float images use the same tables with float weights. Tables are cached per input size.
class Resize {
public:
    Resize(std::size_t height, std::size_t width) : height_(height), width_(width) {
        if (height == 0 || width == 0)
            throw ConfigError("vision::Resize needs a positive height and width, got " + std::to_string(height) +
                              " x " + std::to_string(width));
    }
    std::size_t height() const noexcept { return height_; }
    std::size_t width() const noexcept { return width_; }

    template <class In>
    using output_t = In;

    template <class In>
        requires std::same_as<In, std::uint8_t> || std::same_as<In, float>
    void operator()(const Image<In>& in, Image<In>& out) {
        if (in.encoded()) detail::throw_encoded("vision::Resize");
        if (in.layout != Layout::HWC)
            throw ConfigError("vision::Resize expects an HWC image; apply HWC2CHW after Resize");
        if (in.height == 0 || in.width == 0) throw ShapeError("vision::Resize of an empty image");
        if (!tables_.fits(in.height, in.width, in.channels, height_, width_))
            tables_.build(in.height, in.width, in.channels, height_, width_);
        out.reshape(height_, width_, in.channels, Layout::HWC);
        tables_.run(in.data.data(), out.data.data());
    }

private:
    std::size_t height_, width_;
    detail::LinearResizeTables tables_;
};

// out = in * rescale + shift in float32, as MindSpore's vision.Rescale (its factors are float32).
struct Rescale {
    double rescale = 1.0;
    double shift = 0.0;

    template <class In>
    using output_t = float;

    template <class In>
        requires std::is_arithmetic_v<In>
    void operator()(const Image<In>& in, Image<float>& out) const {
        if (in.encoded()) detail::throw_encoded("vision::Rescale");
        out.reshape(in.height, in.width, in.channels, in.layout);
        const float a = static_cast<float>(rescale), b = static_cast<float>(shift);
        const In* s = in.data.data();
        float* d = out.data.data();
        for (std::size_t i = 0, n = in.size(); i < n; ++i) d[i] = static_cast<float>(s[i]) * a + b;
    }
};

// Moves channels first (HWC -> CHW), as MindSpore's vision.HWC2CHW; batches then come out NCHW.
struct HWC2CHW {
    template <class In>
    using output_t = In;

    template <class In>
    void operator()(const Image<In>& in, Image<In>& out) const {
        if (in.encoded()) detail::throw_encoded("vision::HWC2CHW");
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
