// PNG decoding through libpng, straight into an image's memory: RGB out for every colour type and
// bit depth, as OpenCV's IMREAD_COLOR (MindSpore's decoder for PNG) gives it. Part of mindsave::vision.
#pragma once

#include <png.h>

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "mindsave/core/errors.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/data/vision/limits.hpp"

namespace mindsave::data::vision {

namespace detail {

inline bool is_png(std::span<const std::uint8_t> b) noexcept {
    return b.size() >= 8 && png_sig_cmp(b.data(), 0, 8) == 0;
}

// libpng reports errors by longjmp. Everything it can jump over is plain data (this struct, the
// callbacks, the two functions below that call setjmp), so no destructor is ever skipped; the C++
// caller turns a failed step into an exception once libpng has returned.
struct PngInput {
    const std::uint8_t* data;
    std::size_t size, position;
    char message[256];
};

inline void png_read_bytes(png_structp png, png_bytep dst, std::size_t n) {
    auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
    if (n > in->size - in->position) png_error(png, "the file ends inside a chunk (truncated)");
    std::memcpy(dst, in->data + in->position, n);
    in->position += n;
}
inline void png_fail(png_structp png, png_const_charp message) {
    auto* in = static_cast<PngInput*>(png_get_error_ptr(png));
    std::strncpy(in->message, message, sizeof in->message - 1);
    in->message[sizeof in->message - 1] = '\0';
    png_longjmp(png, 1);
}
inline void png_ignore_warning(png_structp, png_const_charp) {}

struct PngShape {
    png_uint_32 width, height;
    std::size_t row_bytes;
    int passes;
};

// Reads the header and sets up the conversion to 8-bit RGB: 16-bit samples keep their high byte
// (png_set_strip_16, OpenCV's choice), palettes and low-depth grey expand, grey becomes RGB, and
// alpha (or a tRNS chunk) is dropped, not composited, as OpenCV and Pillow's convert("RGB") do.
inline bool png_read_shape(png_structp png, png_infop info, PngShape* shape) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_info(png, info);
    const int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (depth == 16) png_set_strip_16(png);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    png_set_strip_alpha(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    shape->passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    shape->width = png_get_image_width(png, info);
    shape->height = png_get_image_height(png, info);
    shape->row_bytes = png_get_rowbytes(png, info);
    return true;
}

// Reads every row (every pass of an interlaced file) into dst, then the chunks after the image.
inline bool png_read_pixels(png_structp png, png_infop info, const PngShape* shape, std::uint8_t* dst) {
    if (setjmp(png_jmpbuf(png))) return false;
    for (int pass = 0; pass < shape->passes; ++pass)
        for (png_uint_32 y = 0; y < shape->height; ++y) png_read_row(png, dst + y * shape->row_bytes, nullptr);
    png_read_end(png, info);
    return true;
}

class PngReadStruct {
public:
    explicit PngReadStruct(PngInput& in) {
        png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, &in, png_fail, png_ignore_warning);
        if (png_) info_ = png_create_info_struct(png_);
    }
    ~PngReadStruct() { png_destroy_read_struct(&png_, info_ ? &info_ : nullptr, nullptr); }
    PngReadStruct(const PngReadStruct&) = delete;
    PngReadStruct& operator=(const PngReadStruct&) = delete;
    png_structp png() const noexcept { return png_; }
    png_infop info() const noexcept { return info_; }

private:
    png_structp png_ = nullptr;
    png_infop info_ = nullptr;
};

}  // namespace detail

// Decodes a PNG of any colour type (grey, grey + alpha, RGB, RGBA, palette), bit depth (1 to 16) and
// interlacing into out as HWC RGB uint8. Damage (a bad CRC in a critical chunk, a cut file, a broken
// zlib stream) is a FormatError naming the file.
inline void decode_png(std::span<const std::uint8_t> bytes, Image<std::uint8_t>& out,
                       std::string_view file = "<memory>", const DecodeLimits& limits = {}) {
    detail::PngInput in{bytes.data(), bytes.size(), 0, {}};
    detail::PngReadStruct reader(in);
    if (!reader.png() || !reader.info()) throw Error("libpng could not create a reader (out of memory?) for " + std::string(file));
    png_set_read_fn(reader.png(), &in, detail::png_read_bytes);
    // libpng's own limits are 1,000,000 x 1,000,000; the pixel limit below is the one that matters.
    png_set_user_limits(reader.png(), 0x7fffffff, 0x7fffffff);
    detail::PngShape shape{};
    if (!detail::png_read_shape(reader.png(), reader.info(), &shape))
        throw FormatError(std::filesystem::path(file), std::string("not a readable PNG header: ") + in.message);
    detail::check_dimensions(shape.width, shape.height, limits, file, "PNG");
    if (shape.row_bytes != std::size_t{shape.width} * 3)
        throw FormatError(std::filesystem::path(file), "PNG rows of " + std::to_string(shape.row_bytes) + " bytes for " +
                                    std::to_string(shape.width) + " RGB pixels: an unsupported colour layout");
    out.reshape(shape.height, shape.width, 3, Layout::HWC);
    if (!detail::png_read_pixels(reader.png(), reader.info(), &shape, out.data.data()))
        throw FormatError(std::filesystem::path(file), std::string("PNG data does not decode: ") + in.message +
                                    " (the file is damaged or cut short; decode it again from its source)");
}

}  // namespace mindsave::data::vision
