// MindSpore's vision.Resize on OpenCV's arithmetic: INTER_LINEAR (bit-exact on uint8), INTER_NEAREST,
// INTER_CUBIC and INTER_AREA, to a given size or with the shorter side to a given length.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/data/image.hpp"
#include "mindsave/data/preprocess.hpp"

namespace mindsave::data {

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

    bool area = false;  // INTER_AREA when enlarging: OpenCV's linear pass with area-overlap weights

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
            if (area) area_weight(dx, scale_x, static_cast<double>(ow) / static_cast<double>(w), sx, fx);
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
            int sy = static_cast<int>(std::floor(fy));
            fy -= static_cast<float>(sy);
            if (area) area_weight(dy, scale_y, static_cast<double>(oh) / static_cast<double>(h), sy, fy);
            y0[dy] = std::clamp(sy, 0, last_y), y1[dy] = std::clamp(sy + 1, 0, last_y);
            b0[dy] = fixed(1.f - fy), b1[dy] = fixed(fy), fb0[dy] = 1.f - fy, fb1[dy] = fy;
            row_used[static_cast<std::size_t>(y0[dy])] = row_used[static_cast<std::size_t>(y1[dy])] = 1;
        }
    }

    // OpenCV's INTER_AREA coefficients when enlarging: the share of output pixel d that the source
    // pixel after s covers.
    static void area_weight(std::size_t d, double scale, double inv_scale, int& s, float& f) {
        s = static_cast<int>(std::floor(static_cast<double>(d) * scale));
        f = static_cast<float>(static_cast<double>(d + 1) - (s + 1) * inv_scale);
        f = f <= 0 ? 0.f : f - std::floor(f);
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

// Separable tables with K taps per output coordinate, for INTER_CUBIC (4 taps, OpenCV's fixed-point
// arithmetic on uint8) and INTER_AREA when shrinking (the overlap of each output pixel with the source
// pixels, float weights, as OpenCV's resizeArea_). Source offsets are clamped (BORDER_REPLICATE).
struct TapResizeTables {
    std::size_t in_h = 0, in_w = 0, channels = 0, out_h = 0, out_w = 0, kx = 0, ky = 0;
    bool cubic = true;
    std::vector<std::int32_t> xi, yi;    // per output element of a row / per output row: kx / ky source offsets
    std::vector<float> xw, yw;           // their weights
    std::vector<std::int32_t> xwi, ywi;  // cubic: the weights in 11-bit fixed point
    std::vector<std::uint8_t> row_used;
    std::vector<std::int32_t> irows;
    std::vector<float> frows;

    bool fits(std::size_t h, std::size_t w, std::size_t c, std::size_t oh, std::size_t ow) const noexcept {
        return in_h == h && in_w == w && channels == c && out_h == oh && out_w == ow;
    }

    void build(std::size_t h, std::size_t w, std::size_t c, std::size_t oh, std::size_t ow) {
        in_h = h, in_w = w, channels = c, out_h = oh, out_w = ow;
        std::vector<std::int32_t> ix, iy;
        std::vector<float> wx, wy;
        kx = cubic ? cubic_axis(w, ow, ix, wx) : area_axis(w, ow, ix, wx);
        ky = cubic ? cubic_axis(h, oh, iy, wy) : area_axis(h, oh, iy, wy);
        // Columns become element offsets within an HWC row, one set per channel.
        xi.resize(ow * c * kx), xw.resize(ow * c * kx);
        for (std::size_t dx = 0; dx < ow; ++dx)
            for (std::size_t ch = 0; ch < c; ++ch)
                for (std::size_t k = 0; k < kx; ++k) {
                    const std::size_t j = (dx * c + ch) * kx + k;
                    xi[j] = ix[dx * kx + k] * static_cast<std::int32_t>(c) + static_cast<std::int32_t>(ch);
                    xw[j] = wx[dx * kx + k];
                }
        yi = std::move(iy), yw = std::move(wy);
        const auto fixed = [](float v) {
            return static_cast<std::int32_t>(std::clamp(std::lrint(v * 2048.f), -32768L, 32767L));
        };
        xwi.resize(xw.size()), ywi.resize(yw.size());
        std::transform(xw.begin(), xw.end(), xwi.begin(), fixed);
        std::transform(yw.begin(), yw.end(), ywi.begin(), fixed);
        row_used.assign(h, 0);
        for (std::size_t j = 0; j < yi.size(); ++j)
            if (yw[j] != 0.f || cubic) row_used[static_cast<std::size_t>(yi[j])] = 1;
    }

    // OpenCV's interpolateCubic (A = -0.75) at half-pixel centres; taps sx-1 .. sx+2, clamped.
    static std::size_t cubic_axis(std::size_t in, std::size_t out, std::vector<std::int32_t>& idx, std::vector<float>& wt) {
        const double scale = 1.0 / (static_cast<double>(out) / static_cast<double>(in));
        const int last = static_cast<int>(in) - 1;
        idx.resize(out * 4), wt.resize(out * 4);
        for (std::size_t d = 0; d < out; ++d) {
            float f = static_cast<float>((static_cast<double>(d) + 0.5) * scale - 0.5);
            const int s = static_cast<int>(std::floor(f));
            f -= static_cast<float>(s);
            constexpr float A = -0.75f;
            const float c0 = ((A * (f + 1) - 5 * A) * (f + 1) + 8 * A) * (f + 1) - 4 * A;
            const float c1 = ((A + 2) * f - (A + 3)) * f * f + 1;
            const float c2 = ((A + 2) * (1 - f) - (A + 3)) * (1 - f) * (1 - f) + 1;
            const float c[4] = {c0, c1, c2, 1.f - c0 - c1 - c2};
            for (int k = 0; k < 4; ++k) {
                idx[d * 4 + static_cast<std::size_t>(k)] = std::clamp(s - 1 + k, 0, last);
                wt[d * 4 + static_cast<std::size_t>(k)] = c[k];
            }
        }
        return 4;
    }

    // OpenCV's computeResizeAreaTab: output pixel d covers source [d * scale, (d + 1) * scale); each
    // source pixel weighs the part it covers over the scale. Rows of taps are padded with zero weights.
    static std::size_t area_axis(std::size_t in, std::size_t out, std::vector<std::int32_t>& idx, std::vector<float>& wt) {
        const double scale = static_cast<double>(in) / static_cast<double>(out);
        const std::size_t k = static_cast<std::size_t>(std::ceil(scale)) + 1;
        idx.assign(out * k, 0), wt.assign(out * k, 0.f);
        for (std::size_t d = 0; d < out; ++d) {
            const double f1 = static_cast<double>(d) * scale, f2 = f1 + scale;
            const double cell = std::min(scale, static_cast<double>(in) - f1);
            const auto last = static_cast<std::int64_t>(in) - 1;
            const auto s2 = std::min(static_cast<std::int64_t>(std::floor(f2)), last);
            const auto s1 = std::min(static_cast<std::int64_t>(std::ceil(f1)), s2);
            std::size_t n = 0;
            const auto put = [&](std::int64_t s, double w) {
                idx[d * k + n] = static_cast<std::int32_t>(s);
                wt[d * k + n] = static_cast<float>(w);
                ++n;
            };
            if (static_cast<double>(s1) - f1 > 1e-3) put(s1 - 1, (static_cast<double>(s1) - f1) / cell);
            for (std::int64_t s = s1; s < s2; ++s) put(s, 1.0 / cell);
            if (f2 - static_cast<double>(s2) > 1e-3) put(s2, std::min(std::min(f2 - static_cast<double>(s2), 1.0), cell) / cell);
        }
        return k;
    }

    // uint8 cubic: OpenCV's HResizeCubic<uchar, int, short> and VResizeCubic with FixedPtCast<22>.
    void run(const std::uint8_t* src, std::uint8_t* dst) {
        const std::size_t row = out_w * channels, in_row = in_w * channels;
        if (!cubic) return run_float(src, dst);
        irows.resize(in_h * row);
        for (std::size_t r = 0; r < in_h; ++r) {
            if (!row_used[r]) continue;
            const std::uint8_t* s = src + r * in_row;
            std::int32_t* d = irows.data() + r * row;
            for (std::size_t j = 0; j < row; ++j) {
                const std::int32_t* i = xi.data() + j * 4;
                const std::int32_t* a = xwi.data() + j * 4;
                d[j] = s[i[0]] * a[0] + s[i[1]] * a[1] + s[i[2]] * a[2] + s[i[3]] * a[3];
            }
        }
        // OpenCV's VResizeCubicVec_32s8u does whole 8-lane groups in float (S * (beta / 2048^2), summed
        // from the last tap back, rounded to nearest even); FixedPtCast<22> does the rest of the row.
        const std::size_t head = row / 8 * 8;
        constexpr float unit = 1.f / (2048.f * 2048.f);
        for (std::size_t dy = 0; dy < out_h; ++dy) {
            const std::int32_t* b = ywi.data() + dy * 4;
            const std::int32_t* r[4];
            for (std::size_t k = 0; k < 4; ++k) r[k] = irows.data() + static_cast<std::size_t>(yi[dy * 4 + k]) * row;
            std::uint8_t* d = dst + dy * row;
            const float f0 = static_cast<float>(b[0]) * unit, f1 = static_cast<float>(b[1]) * unit,
                        f2 = static_cast<float>(b[2]) * unit, f3 = static_cast<float>(b[3]) * unit;
            for (std::size_t j = 0; j < head; ++j) {
                const float v = static_cast<float>(r[0][j]) * f0 +
                                (static_cast<float>(r[1][j]) * f1 + (static_cast<float>(r[2][j]) * f2 + static_cast<float>(r[3][j]) * f3));
                d[j] = static_cast<std::uint8_t>(std::clamp(std::lrint(v), 0L, 255L));
            }
            for (std::size_t j = head; j < row; ++j) {
                const std::int64_t v = std::int64_t{r[0][j]} * b[0] + std::int64_t{r[1][j]} * b[1] +
                                       std::int64_t{r[2][j]} * b[2] + std::int64_t{r[3][j]} * b[3];
                d[j] = static_cast<std::uint8_t>(std::clamp<std::int64_t>((v + (1 << 21)) >> 22, 0, 255));
            }
        }
    }
    void run(const float* src, float* dst) { run_float(src, dst); }

    // Float weights throughout; uint8 results round to nearest (saturate_cast).
    template <class T>
    void run_float(const T* src, T* dst) {
        const std::size_t row = out_w * channels, in_row = in_w * channels;
        frows.resize(in_h * row);
        for (std::size_t r = 0; r < in_h; ++r) {
            if (!row_used[r]) continue;
            const T* s = src + r * in_row;
            float* d = frows.data() + r * row;
            for (std::size_t j = 0; j < row; ++j) {
                float v = 0;
                for (std::size_t k = 0; k < kx; ++k) v += static_cast<float>(s[xi[j * kx + k]]) * xw[j * kx + k];
                d[j] = v;
            }
        }
        for (std::size_t dy = 0; dy < out_h; ++dy) {
            T* d = dst + dy * row;
            for (std::size_t j = 0; j < row; ++j) {
                float v = 0;
                for (std::size_t k = 0; k < ky; ++k)
                    v += frows[static_cast<std::size_t>(yi[dy * ky + k]) * row + j] * yw[dy * ky + k];
                if constexpr (std::is_same_v<T, std::uint8_t>)
                    d[j] = static_cast<std::uint8_t>(std::clamp(std::lrint(v), 0L, 255L));
                else
                    d[j] = v;
            }
        }
    }
};

// OpenCV's resizeAreaFast_: each output pixel the mean of an fx x fy block, (a + b + c + d + 2) >> 2 for
// 2 x 2 blocks of uint8 (1, 3 or 4 channels), else sum * (1.f / area) rounded to nearest even.
template <class T>
void resize_area_whole(const Image<T>& in, Image<T>& out, std::size_t fx, std::size_t fy) {
    const std::size_t c = in.channels, in_row = in.width * c, row = out.width * c;
    const float scale = 1.f / static_cast<float>(fx * fy);
    const bool quad = std::is_same_v<T, std::uint8_t> && fx == 2 && fy == 2 && (c == 1 || c == 3 || c == 4);
    for (std::size_t y = 0; y < out.height; ++y) {
        const T* s = in.data.data() + y * fy * in_row;
        T* d = out.data.data() + y * row;
        for (std::size_t x = 0; x < out.width; ++x)
            for (std::size_t ch = 0; ch < c; ++ch) {
                const T* b = s + x * fx * c + ch;
                if constexpr (std::is_same_v<T, std::uint8_t>)
                    if (quad) {
                        d[x * c + ch] = static_cast<T>((b[0] + b[c] + b[in_row] + b[in_row + c] + 2) >> 2);
                        continue;
                    }
                using Sum = std::conditional_t<std::is_same_v<T, std::uint8_t>, int, float>;
                Sum sum = 0;
                for (std::size_t i = 0; i < fy; ++i)
                    for (std::size_t j = 0; j < fx; ++j) sum += b[i * in_row + j * c];
                const float v = static_cast<float>(sum) * scale;
                if constexpr (std::is_same_v<T, std::uint8_t>) d[x * c + ch] = static_cast<T>(std::clamp(std::lrint(v), 0L, 255L));
                else d[x * c + ch] = v;
            }
    }
}

// OpenCV's INTER_NEAREST: source index floor(d * in / out), clamped.
template <class T>
void resize_nearest(const Image<T>& in, Image<T>& out, std::vector<std::int32_t>& columns) {
    const std::size_t c = in.channels;
    const double fx = 1.0 / (static_cast<double>(out.width) / static_cast<double>(in.width));
    const double fy = 1.0 / (static_cast<double>(out.height) / static_cast<double>(in.height));
    columns.resize(out.width);
    for (std::size_t x = 0; x < out.width; ++x)
        columns[x] = std::min(static_cast<std::int32_t>(std::floor(static_cast<double>(x) * fx)),
                              static_cast<std::int32_t>(in.width) - 1);
    for (std::size_t y = 0; y < out.height; ++y) {
        const auto sy = std::min(static_cast<std::size_t>(std::floor(static_cast<double>(y) * fy)), in.height - 1);
        const T* s = in.data.data() + sy * in.width * c;
        T* d = out.data.data() + y * out.width * c;
        for (std::size_t x = 0; x < out.width; ++x)
            for (std::size_t ch = 0; ch < c; ++ch) d[x * c + ch] = s[static_cast<std::size_t>(columns[x]) * c + ch];
    }
}

}  // namespace detail

namespace vision {

// MindSpore's vision.Inter, with the numbers MindSpore's serialized pipelines use (its C++
// InterpolationMode): the "interpolation" value of a Resize in a MindIR's preprocessing.
enum class Inter : int { LINEAR = 0, NEAREST = 1, CUBIC = 2, AREA = 3 };
inline constexpr Inter BILINEAR = Inter::LINEAR;
inline constexpr Inter BICUBIC = Inter::CUBIC;

// vision.Resize(size, interpolation): to height x width, or with one length the shorter side becomes
// that length and the longer keeps the aspect ratio. OpenCV's arithmetic: INTER_LINEAR bit for bit on
// uint8 (half-pixel centres, 11-bit weights, VResizeLinear's rounding), INTER_NEAREST exactly,
// INTER_CUBIC with OpenCV's fixed-point passes, INTER_AREA by pixel overlap (block means when
// shrinking, overlap weights through the linear pass when enlarging). Tables are cached per size.
class Resize {
public:
    Resize(std::size_t height, std::size_t width, Inter interpolation = Inter::LINEAR)
        : height_(height), width_(width), inter_(interpolation) {
        if (height == 0 || width == 0)
            throw ConfigError("vision::Resize needs a positive height and width, got " + std::to_string(height) +
                              " x " + std::to_string(width));
        check_inter();
    }
    explicit Resize(std::size_t size, Inter interpolation = Inter::LINEAR) : height_(size), width_(0), inter_(interpolation) {
        if (size == 0) throw ConfigError("vision::Resize needs a positive size, got 0");
        check_inter();
    }

    // The size given: {h, w}, or {size} for the shorter side.
    std::vector<std::size_t> size() const { return width_ ? std::vector{height_, width_} : std::vector{height_}; }
    Inter interpolation() const noexcept { return inter_; }
    std::size_t height() const noexcept { return height_; }
    std::size_t width() const noexcept { return width_; }

    // The output height and width for an input of h x w.
    std::pair<std::size_t, std::size_t> output_size(std::size_t h, std::size_t w) const {
        if (width_) return {height_, width_};
        // MindSpore's ResizeOp: the shorter side becomes size, the longer floor(longer / shorter * size)
        // computed in float32 (which is one less than exact arithmetic for some sizes, e.g. 112 x 117 -> 224 x 233).
        const auto longer = [&](std::size_t a, std::size_t b) {
            const float v = std::floor(static_cast<float>(a) / static_cast<float>(b) * static_cast<float>(height_));
            return std::max<std::size_t>(1, static_cast<std::size_t>(v));
        };
        if (h < w) return {height_, longer(w, h)};
        return {longer(h, w), height_};
    }

    PreprocessOp mindspore_op() const {
        std::vector<std::size_t> s = size();
        return {"Resize", data::detail::JsonParams()
                              .string("device_target", "CPU")
                              .integer("interpolation", static_cast<int>(inter_))
                              .numbers("size", s)
                              .str()};
    }

    template <class In>
    using output_t = In;

    template <class In>
        requires std::same_as<In, std::uint8_t> || std::same_as<In, float>
    void operator()(const Image<In>& in, Image<In>& out) {
        if (in.encoded()) data::detail::throw_encoded("vision::Resize");
        if (in.layout != Layout::HWC)
            throw ConfigError("vision::Resize expects an HWC image; apply HWC2CHW after Resize");
        if (in.height == 0 || in.width == 0) throw ShapeError("vision::Resize of an empty image");
        const auto [oh, ow] = output_size(in.height, in.width);
        out.reshape(oh, ow, in.channels, Layout::HWC);
        out.origin = in.origin;
        const bool shrink = ow <= in.width && oh <= in.height;
        if (inter_ == Inter::NEAREST) return data::detail::resize_nearest(in, out, columns_);
        // OpenCV averages whole blocks when both factors are whole numbers: always for INTER_AREA,
        // and for INTER_LINEAR at exactly half size.
        const std::size_t fx = in.width / ow, fy = in.height / oh;
        const bool whole = shrink && fx * ow == in.width && fy * oh == in.height;
        if (whole && (inter_ == Inter::AREA || (inter_ == Inter::LINEAR && fx == 2 && fy == 2)))
            return data::detail::resize_area_whole(in, out, fx, fy);
        if (inter_ == Inter::LINEAR || (inter_ == Inter::AREA && !shrink)) {
            linear_.area = inter_ == Inter::AREA;
            if (!linear_.fits(in.height, in.width, in.channels, oh, ow)) linear_.build(in.height, in.width, in.channels, oh, ow);
            return linear_.run(in.data.data(), out.data.data());
        }
        taps_.cubic = inter_ == Inter::CUBIC;
        if (!taps_.fits(in.height, in.width, in.channels, oh, ow)) taps_.build(in.height, in.width, in.channels, oh, ow);
        taps_.run(in.data.data(), out.data.data());
    }

private:
    void check_inter() const {
        const int i = static_cast<int>(inter_);
        if (i < 0 || i > 3)
            throw ConfigError("vision::Resize interpolation " + std::to_string(i) +
                              " is not one mindsave offers (LINEAR 0, NEAREST 1, CUBIC 2, AREA 3)");
    }

    std::size_t height_, width_;  // width_ 0: height_ is the shorter side's length
    Inter inter_;
    data::detail::LinearResizeTables linear_;
    data::detail::TapResizeTables taps_;
    std::vector<std::int32_t> columns_;
};

}  // namespace vision

}  // namespace mindsave::data
