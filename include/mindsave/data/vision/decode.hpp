// MindSpore's vision.Decode: an encoded image (a file's bytes) to HWC RGB uint8, JPEG through
// libjpeg-turbo and PNG through libpng. Part of the opt-in component mindsave::vision.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/data/preprocess.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/data/vision/jpeg.hpp"
#include "mindsave/data/vision/limits.hpp"
#include "mindsave/data/vision/png.hpp"
#include "mindsave/io/file.hpp"

namespace mindsave::data::vision {

namespace detail {

// What a file that is neither JPEG nor PNG seems to be, for the error message.
inline std::string guess_format(std::span<const std::uint8_t> b) {
    const auto starts = [&](std::string_view magic) {
        return b.size() >= magic.size() && std::equal(magic.begin(), magic.end(), b.begin(),
                                                      [](char m, std::uint8_t c) { return static_cast<std::uint8_t>(m) == c; });
    };
    if (b.empty()) return "an empty file";
    if (starts("BM")) return "a BMP image";
    if (starts("GIF8")) return "a GIF image";
    if (starts("II*") || starts("MM")) return "a TIFF image";
    if (starts("RIFF") && b.size() >= 12 && std::equal(b.begin() + 8, b.begin() + 12, "WEBP")) return "a WebP image";
    return "not an image mindsave knows";
}

}  // namespace detail

// Decodes JPEG or PNG bytes (told apart by their signature) into out as HWC RGB uint8.
inline void decode_image(std::span<const std::uint8_t> bytes, Image<std::uint8_t>& out,
                         std::string_view file = "<memory>", const DecodeLimits& limits = {}) {
    if (detail::is_jpeg(bytes)) return decode_jpeg(bytes, out, file, limits);
    if (detail::is_png(bytes)) return decode_png(bytes, out, file, limits);
    throw FormatError(std::filesystem::path(file), "is " + detail::guess_format(bytes) +
                                "; vision::Decode reads JPEG and PNG (convert the file to one of them)");
}

// Reads a whole file into bytes, reusing its capacity (no allocation when the file fits).
inline void read_file_bytes(const std::filesystem::path& path, std::vector<std::uint8_t>& bytes) {
    struct stat st {};
    const auto fd = io::detail::open_for_reading(path, st);
    bytes.resize(static_cast<std::size_t>(st.st_size));
    const std::span<std::byte> dest(reinterpret_cast<std::byte*>(bytes.data()), bytes.size());
    bytes.resize(io::detail::read_at(fd.get(), dest, 0, path));
}

// The decoded image in a file (JPEG or PNG), as HWC RGB uint8.
inline Image<std::uint8_t> read_image(const std::filesystem::path& path, const DecodeLimits& limits = {}) {
    std::vector<std::uint8_t> bytes;
    read_file_bytes(path, bytes);
    Image<std::uint8_t> out;
    decode_image(bytes, out, path.native(), limits);
    return out;
}

// vision.Decode(): an encoded image (Layout::Encoded, as ImageFolderDataset gives with decode = false)
// to HWC RGB uint8. MindSpore's to_pil = False form; rgb is always true.
struct Decode {
    DecodeLimits limits{};

    PreprocessOp mindspore_op() const {
        return {"Decode", data::detail::JsonParams().string("device_target", "CPU").boolean("rgb", true).str()};
    }

    template <class In>
    using output_t = std::uint8_t;

    template <class In>
        requires std::same_as<In, std::uint8_t>
    void operator()(const Image<In>& in, Image<std::uint8_t>& out) const {
        if (!in.encoded())
            throw ConfigError("vision::Decode got an image that is already decoded (" + std::to_string(in.height) + "x" +
                              std::to_string(in.width) + "x" + std::to_string(in.channels) +
                              "); the dataset decodes already (decode = true), so drop Decode from map()");
        decode_image(in.data, out, in.origin.empty() ? std::string_view("<memory>") : std::string_view(in.origin), limits);
        out.origin = in.origin;
    }
};

}  // namespace mindsave::data::vision
