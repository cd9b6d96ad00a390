// MindSpore's MnistDataset: MNIST or Fashion-MNIST idx files from one folder, as the source of a
// pipeline (map, shuffle, take, split and batch come from Pipeline).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/data/idx.hpp"
#include "mindsave/data/pipeline.hpp"

namespace mindsave::data {

namespace detail {

inline constexpr std::string_view mnist_hint =
    "Point --data DIR at a folder holding the MNIST or Fashion-MNIST idx files, or install the Debian "
    "package dataset-fashion-mnist (it puts them in /usr/share/datasets/fashion-mnist)";

// The spellings a file goes by: plain, gzip, and MindSpore's dotted "train-images.idx3-ubyte".
inline std::array<std::string, 4> mnist_names(std::string_view prefix, std::string_view kind, std::string_view idx) {
    const std::string dashed = std::string(prefix) + "-" + std::string(kind) + "-" + std::string(idx) + "-ubyte";
    const std::string dotted = std::string(prefix) + "-" + std::string(kind) + "." + std::string(idx) + "-ubyte";
    return {dashed, dashed + ".gz", dotted, dotted + ".gz"};
}

inline std::filesystem::path find_mnist_file(const std::filesystem::path& dir, std::string_view prefix,
                                             std::string_view kind, std::string_view idx) {
    const auto names = mnist_names(prefix, kind, idx);
    for (const auto& name : names)
        if (std::filesystem::is_regular_file(dir / name)) return dir / name;
    if (!std::filesystem::is_directory(dir))
        throw FileError(dir, "MNIST dataset folder not found. " + std::string(mnist_hint));
    std::string tried;
    for (const auto& name : names) tried += (tried.empty() ? "" : ", ") + name;
    throw FileError(dir / names[0], "MNIST file not found; tried " + tried + " in " + dir.string() + ". " +
                                        std::string(mnist_hint));
}

struct MnistPart {
    std::filesystem::path images_path, labels_path;
    IdxArray images, labels;
};

// One split's image and label files, checked against each other.
inline MnistPart read_mnist_part(const std::filesystem::path& dir, std::string_view prefix) {
    MnistPart p;
    p.images_path = find_mnist_file(dir, prefix, "images", "idx3");
    p.labels_path = find_mnist_file(dir, prefix, "labels", "idx1");
    p.images = read_idx(p.images_path);
    p.labels = read_idx(p.labels_path);
    if (p.images.dtype != DType::UInt8)
        throw FormatError(p.images_path, "MNIST images must be unsigned bytes (idx type 08), found " +
                                             std::string(dtype_name(p.images.dtype)));
    if (p.labels.dtype != DType::UInt8)
        throw FormatError(p.labels_path, "MNIST labels must be unsigned bytes (idx type 08), found " +
                                             std::string(dtype_name(p.labels.dtype)));
    if (p.images.dims.size() != 3)
        throw FormatError(p.images_path, "MNIST images must be 3-D [N, H, W], found dims " + shape_string(p.images.dims));
    if (p.labels.dims.size() != 1)
        throw FormatError(p.labels_path, "MNIST labels must be 1-D [N], found dims " + shape_string(p.labels.dims));
    if (p.images.dims[0] != p.labels.dims[0])
        throw FormatError(p.images_path, "holds " + std::to_string(p.images.dims[0]) + " images but " +
                                             p.labels_path.string() + " holds " + std::to_string(p.labels.dims[0]) +
                                             " labels; the two files must come from the same set");
    return p;
}

inline SampleArrays load_mnist(const std::filesystem::path& dir, std::string_view usage) {
    if (usage != "train" && usage != "test" && usage != "all")
        throw ConfigError("MnistDataset usage must be \"train\", \"test\" or \"all\", got \"" + std::string(usage) + "\"");
    std::vector<MnistPart> parts;
    if (usage != "test") parts.push_back(read_mnist_part(dir, "train"));
    if (usage != "train") parts.push_back(read_mnist_part(dir, "t10k"));

    SampleArrays s;
    s.height = parts[0].images.dims[1];
    s.width = parts[0].images.dims[2];
    s.channels = 1;
    for (const auto& p : parts) {
        if (p.images.dims[1] != s.height || p.images.dims[2] != s.width)
            throw FormatError(p.images_path, "holds " + std::to_string(p.images.dims[1]) + "x" +
                                                 std::to_string(p.images.dims[2]) + " images but " +
                                                 parts[0].images_path.string() + " holds " + std::to_string(s.height) +
                                                 "x" + std::to_string(s.width));
        s.count += p.images.dims[0];
    }
    // "all" is train then test; a single part moves its buffer in without a copy.
    s.images = std::move(parts[0].images.data);
    for (std::size_t i = 1; i < parts.size(); ++i)
        s.images.insert(s.images.end(), parts[i].images.data.begin(), parts[i].images.data.end());
    s.labels.reserve(s.count);
    for (const auto& p : parts) s.labels.insert(s.labels.end(), p.labels.data.begin(), p.labels.data.end());
    return s;
}

}  // namespace detail

// MindSpore's ds.MnistDataset(dataset_dir, usage, shuffle): usage "train", "test" or "all" (train
// then test). Files are found as train-images-idx3-ubyte, with .gz, or as train-images.idx3-ubyte.
// Images are uint8 [N, H, W] (H and W from the files), labels Int32.
// MindSpore samples a mappable source in random order unless shuffle=False; here file order is the
// default, and shuffle = true gives MindSpore's default sampler: a fresh full permutation per epoch.
class MnistDataset : public Pipeline<> {
public:
    explicit MnistDataset(const std::filesystem::path& dataset_dir, std::string_view usage = "all",
                          bool shuffle = false, std::uint64_t seed = 0)
        : Pipeline<>(detail::load_mnist(dataset_dir, usage)) {
        if (shuffle) static_cast<Pipeline<>&>(*this) = Pipeline<>::shuffle(std::max<std::size_t>(samples().count, 1), seed);
    }

    // The samples of this process when num_shards processes share the set (MindSpore's num_shards /
    // shard_id): see Pipeline::shard. shuffle permutes every epoch by (seed, epoch), alike on every shard.
    MnistDataset(const std::filesystem::path& dataset_dir, std::string_view usage, bool shuffle, std::uint64_t seed,
                 std::size_t num_shards, std::size_t shard_id)
        : Pipeline<>(detail::load_mnist(dataset_dir, usage)) {
        static_cast<Pipeline<>&>(*this) = Pipeline<>::shard(num_shards, shard_id, shuffle, seed);
    }

    std::size_t size() const noexcept { return samples().count; }
    std::size_t height() const noexcept { return samples().height; }
    std::size_t width() const noexcept { return samples().width; }

    std::span<const std::uint8_t> image(std::size_t i) const {
        check(i);
        const std::size_t n = samples().image_size();
        return {samples().images.data() + i * n, n};
    }
    std::int32_t label(std::size_t i) const {
        check(i);
        return samples().labels[i];
    }

    const SampleArrays& samples() const noexcept { return static_cast<const ArraySource&>(source()).arrays(); }

private:
    void check(std::size_t i) const {
        if (i >= size())
            throw std::out_of_range("MnistDataset sample " + std::to_string(i) + " of " + std::to_string(size()));
    }
};

}  // namespace mindsave::data
