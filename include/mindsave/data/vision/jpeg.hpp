// JPEG through libjpeg-turbo's TurboJPEG API: decoding straight into an image's memory (RGB out, whatever
// the file's colour space) and encoding. Part of the opt-in component mindsave::vision (links libturbojpeg).
#pragma once

#include <turbojpeg.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>
#include <string_view>

#include "mindsave/core/errors.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/data/vision/limits.hpp"

namespace mindsave::data::vision {

namespace detail {

struct TurboJpegDeleter {
    void operator()(void* h) const noexcept { tjDestroy(h); }
};
using TurboJpegHandle = std::unique_ptr<void, TurboJpegDeleter>;

inline bool is_jpeg(std::span<const std::uint8_t> b) noexcept {
    return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

// Whether the JPEG has Adobe's APP14 marker (libjpeg's saw_Adobe_marker), which says its CMYK values
// are stored inverted. Scans the marker segments up to the first scan.
inline bool has_adobe_marker(std::span<const std::uint8_t> b) noexcept {
    std::size_t i = 2;
    while (i + 4 <= b.size()) {
        if (b[i] != 0xFF) return false;
        const std::uint8_t m = b[i + 1];
        if (m == 0xFF) {  // fill byte
            ++i;
            continue;
        }
        if (m == 0xDA || m == 0xD9) return false;  // start of scan, end of image
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
            i += 2;
            continue;
        }
        const std::size_t len = std::size_t{b[i + 2]} << 8 | b[i + 3];
        if (m == 0xEE && len >= 7 && i + 9 <= b.size() && b[i + 4] == 'A' && b[i + 5] == 'd' && b[i + 6] == 'o' &&
            b[i + 7] == 'b' && b[i + 8] == 'e')
            return true;
        i += 2 + len;
    }
    return false;
}

// CMYK as libjpeg gives it to RGB as MindSpore's Decode does (integer division, truncated): with
// Adobe's marker the values are inverted and r = c * k / 255; without it r = (255 - c) * (255 - k) / 255.
// Works in place: pixel i's three outputs never pass its four inputs.
inline void cmyk_to_rgb(std::uint8_t* p, std::size_t pixels, bool inverted) noexcept {
    for (std::size_t i = 0; i < pixels; ++i) {
        unsigned c = p[4 * i], m = p[4 * i + 1], y = p[4 * i + 2], k = p[4 * i + 3];
        if (!inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
        p[3 * i] = static_cast<std::uint8_t>(c * k / 255);
        p[3 * i + 1] = static_cast<std::uint8_t>(m * k / 255);
        p[3 * i + 2] = static_cast<std::uint8_t>(y * k / 255);
    }
}

}  // namespace detail

// Decodes a JPEG (baseline or progressive, any chroma subsampling; YCbCr, RGB, grayscale, CMYK or
// YCCK) into out as HWC RGB uint8, with libjpeg's accurate integer DCT and fancy upsampling (the
// settings Pillow and MindSpore decode with). Like MindSpore's Decode, EXIF orientation is not applied
// and grey is replicated to three channels. A warning from libjpeg (a truncated or damaged stream,
// which libjpeg would paper over with grey) is an error here, as in MindSpore: a FormatError naming the file.
inline void decode_jpeg(std::span<const std::uint8_t> bytes, Image<std::uint8_t>& out,
                        std::string_view file = "<memory>", const DecodeLimits& limits = {}) {
    detail::TurboJpegHandle h(tjInitDecompress());
    if (!h) throw Error("TurboJPEG could not create a decompressor (out of memory?) for " + std::string(file));
    const auto fail = [&](const char* what) {
        throw FormatError(std::filesystem::path(file), std::string(what) + ": " + tjGetErrorStr2(h.get()) +
                                    " (the file is damaged or cut short; decode it again from its source)");
    };
    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    if (tjDecompressHeader3(h.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), &width, &height,
                            &subsampling, &colorspace) != 0)
        fail("not a readable JPEG header");
    detail::check_dimensions(static_cast<std::uint64_t>(width), static_cast<std::uint64_t>(height), limits, file,
                             "JPEG");
    const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
    const std::size_t pixels = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
    // CMYK needs four bytes a pixel while decoding; the vector keeps that capacity for the next image.
    out.reshape(static_cast<std::size_t>(height), static_cast<std::size_t>(width), cmyk ? 4 : 3, Layout::HWC);
    const int flags = TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
    if (tjDecompress2(h.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), out.data.data(), width, 0,
                      height, cmyk ? TJPF_CMYK : TJPF_RGB, flags) != 0)
        fail("JPEG data does not decode");
    if (cmyk) {
        detail::cmyk_to_rgb(out.data.data(), pixels, detail::has_adobe_marker(bytes));
        out.reshape(out.height, out.width, 3, Layout::HWC);
    }
}

// Encodes an HWC RGB (or one-channel grey) uint8 image as a baseline JPEG of the given quality (1..100),
// 4:2:0 for colour: thumbnails for reports, test images.
inline std::vector<std::uint8_t> encode_jpeg(const Image<std::uint8_t>& img, int quality = 90) {
    if (img.layout != Layout::HWC || (img.channels != 3 && img.channels != 1) || img.size() == 0)
        throw ConfigError("encode_jpeg takes a non-empty HWC image of 3 (RGB) or 1 (grey) channels");
    if (quality < 1 || quality > 100) throw ConfigError("encode_jpeg quality must lie in 1..100, got " + std::to_string(quality));
    detail::TurboJpegHandle h(tjInitCompress());
    if (!h) throw Error("TurboJPEG could not create a compressor (out of memory?)");
    unsigned char* buffer = nullptr;
    unsigned long size = 0;
    const bool grey = img.channels == 1;
    const int rc = tjCompress2(h.get(), img.data.data(), static_cast<int>(img.width), 0, static_cast<int>(img.height),
                               grey ? TJPF_GRAY : TJPF_RGB, &buffer, &size, grey ? TJSAMP_GRAY : TJSAMP_420, quality,
                               TJFLAG_ACCURATEDCT);
    const std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(buffer, [](unsigned char* p) { tjFree(p); });
    if (rc != 0) throw Error(std::string("TurboJPEG could not encode the image: ") + tjGetErrorStr2(h.get()));
    return {buffer, buffer + size};
}

}  // namespace mindsave::data::vision
