// MindSpore's ImageFolderDataset: one class per sub-folder of a root folder, images read from disk
// per sample, decoded here (decode = true) or in map() by vision::Decode. Part of mindsave::vision.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/source.hpp"
#include "mindsave/data/vision/decode.hpp"

namespace mindsave::data {

// ImageFolderDataset's arguments, named as MindSpore names them. Defaults are MindSpore's, except
// shuffle: file order unless asked (as MnistDataset here), so a run reads what its code says.
struct ImageFolderOptions {
    // Samples per epoch (per shard): the first ones, or with shuffle and no shards that many drawn with
    // replacement, as MindSpore's RandomSampler(replacement=True) does.
    std::optional<std::size_t> num_samples;
    bool shuffle = false;  // a fresh permutation every epoch, drawn from (seed, epoch)
    std::uint64_t seed = 0;
    // File extensions to read, with the dot, matched exactly (".jpg" is not ".JPG"), as MindSpore does.
    // Empty, MindSpore's default: every file in a class folder is a sample.
    std::vector<std::string> extensions;
    // Class folder name -> label; other folders are skipped. Empty: every sub-folder, labelled by its
    // position in byte-wise name order (an empty folder still takes a label, as in MindSpore).
    std::map<std::string, std::int32_t> class_indexing;
    bool decode = false;  // decode in the source (HWC RGB uint8); false gives the file's bytes
    std::size_t num_shards = 1, shard_id = 0;
    vision::DecodeLimits limits{};
};

namespace detail {

// The files of an image folder in MindSpore's order: class folders by byte-wise name, the files of each
// by byte-wise name. One level: folders inside a class folder are skipped (MindSpore lists them and
// then fails to read them).
class ImageFolderSource final : public SampleSource {
public:
    ImageFolderSource(const std::filesystem::path& root, const ImageFolderOptions& o) : decode_(o.decode), limits_(o.limits) {
        namespace fs = std::filesystem;
        std::error_code ec;
        if (!fs::is_directory(root, ec))
            throw FileError(root, "is not a folder; ImageFolderDataset reads a folder holding one sub-folder per class");
        std::vector<std::string> classes;
        for (const auto& entry : fs::directory_iterator(root, ec))
            if (entry.is_directory(ec)) classes.push_back(entry.path().filename().string());
        if (ec) throw FileError(root, "cannot list: " + ec.message());
        std::sort(classes.begin(), classes.end());
        if (o.class_indexing.empty()) {
            for (std::size_t i = 0; i < classes.size(); ++i) class_indexing_[classes[i]] = static_cast<std::int32_t>(i);
        } else {
            for (const auto& [name, label] : o.class_indexing)
                if (std::find(classes.begin(), classes.end(), name) == classes.end())
                    throw ConfigError("class_indexing names class \"" + name + "\", but " + root.string() +
                                      " has no folder of that name");
            class_indexing_ = o.class_indexing;
        }
        for (const auto& [name, label] : class_indexing_) {  // std::map: byte-wise name order
            std::vector<std::string> files;
            for (const auto& entry : fs::directory_iterator(root / name, ec)) {
                if (!entry.is_regular_file(ec)) continue;
                if (!o.extensions.empty() && std::find(o.extensions.begin(), o.extensions.end(),
                                                       entry.path().extension().string()) == o.extensions.end())
                    continue;
                files.push_back(entry.path().string());
            }
            if (ec) throw FileError(root / name, "cannot list: " + ec.message());
            std::sort(files.begin(), files.end());
            for (auto& f : files) files_.push_back(std::move(f)), labels_.push_back(label);
        }
        if (files_.empty())
            throw FileError(root, "holds no files" +
                                      (o.extensions.empty() ? std::string() : " with the extensions " + join(o.extensions)) +
                                      " in its class sub-folders (one sub-folder per class, images inside)");
    }

    std::size_t size() const noexcept override { return files_.size(); }
    std::int32_t label(std::size_t i) const override { return labels_[i]; }
    const std::string& file(std::size_t i) const { return files_[i]; }
    const std::map<std::string, std::int32_t>& class_indexing() const noexcept { return class_indexing_; }

    void read(std::size_t i, Image<std::uint8_t>& out) const override {
        const std::string& file = files_[i];
        if (decode_) {
            thread_local std::vector<std::uint8_t> bytes;  // keeps its capacity from file to file
            vision::read_file_bytes(file, bytes);
            vision::decode_image(bytes, out, file, limits_);
        } else {
            vision::read_file_bytes(file, out.data);
            out.height = 1, out.width = out.data.size(), out.channels = 1, out.layout = Layout::Encoded;
        }
        out.origin.assign(file);
    }

private:
    static std::string join(const std::vector<std::string>& v) {
        std::string s;
        for (const auto& e : v) s += (s.empty() ? "" : ", ") + e;
        return s;
    }

    bool decode_;
    vision::DecodeLimits limits_;
    std::map<std::string, std::int32_t> class_indexing_;
    std::vector<std::string> files_;
    std::vector<std::int32_t> labels_;
};

}  // namespace detail

// ds.ImageFolderDataset(dataset_dir, num_samples, shuffle, extensions, class_indexing, decode,
// num_shards, shard_id): samples are the image files under dataset_dir/<class>/, labels Int32 by class.
// With decode = false an image is its file's bytes (map vision::Decode() or RandomCropDecodeResize).
class ImageFolderDataset : public Pipeline<> {
public:
    explicit ImageFolderDataset(const std::filesystem::path& dataset_dir, const ImageFolderOptions& options = {})
        : Pipeline<>(std::make_shared<const detail::ImageFolderSource>(dataset_dir, options)) {
        // MindSpore's sampler choice: DistributedSampler with shards; RandomSampler with shuffle (with
        // replacement when num_samples is given); SequentialSampler otherwise.
        Pipeline<>& self = *this;
        if (options.num_samples && *options.num_samples == 0)
            throw ConfigError("ImageFolderDataset num_samples must be at least 1");
        if (options.num_shards != 1 || options.shard_id != 0) {
            self = self.shard(options.num_shards, options.shard_id, options.shuffle, options.seed);
            if (options.num_samples) self = self.take(*options.num_samples);
        } else if (options.shuffle) {
            self = options.num_samples ? this->draw(*options.num_samples, options.seed)
                                       : self.shuffle(folder().size(), options.seed);
        } else if (options.num_samples) {
            self = self.take(*options.num_samples);
        }
    }

    // All image files found (before sharding and num_samples), and each one's path and label.
    std::size_t size() const noexcept { return folder().size(); }
    const std::string& file(std::size_t i) const { return folder().file(check(i)); }
    std::int32_t label(std::size_t i) const { return folder().label(check(i)); }
    // Class folder name -> label (MindSpore's get_class_indexing).
    const std::map<std::string, std::int32_t>& get_class_indexing() const noexcept { return folder().class_indexing(); }
    std::size_t num_classes() const noexcept { return folder().class_indexing().size(); }

private:
    const detail::ImageFolderSource& folder() const noexcept {
        return static_cast<const detail::ImageFolderSource&>(source());
    }
    std::size_t check(std::size_t i) const {
        if (i >= size())
            throw std::out_of_range("ImageFolderDataset sample " + std::to_string(i) + " of " + std::to_string(size()));
        return i;
    }
};

}  // namespace mindsave::data
