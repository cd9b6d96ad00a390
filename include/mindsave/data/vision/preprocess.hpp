// A MindIR's preprocessing read back (load_preprocess) and run on raw image files before a network
// predicts: the C++ counterpart of MindSpore Lite's cloud-runtime PredictWithPreprocess. Part of mindsave::vision.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/tensor.hpp"
#include "mindsave/data/crop.hpp"
#include "mindsave/data/image.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/preprocess.hpp"
#include "mindsave/data/resize.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/data/vision/decode.hpp"
#include "mindsave/data/vision/random_crop_decode_resize.hpp"
#include "mindsave/formats/mindir.hpp"
#include "mindsave/io/json.hpp"

namespace mindsave::data::vision {

namespace detail {

using AnyImage = std::variant<Image<std::uint8_t>, Image<float>>;
using PreprocessStep = std::function<void(const AnyImage&, AnyImage&, std::uint64_t)>;

inline const char* element_name(const AnyImage& a) { return std::holds_alternative<Image<float>>(a) ? "float32" : "uint8"; }

// Transform t as a step on whichever element type the image has, when t takes it.
template <class T>
PreprocessStep make_step(T t, std::string name) {
    return [t = std::move(t), name = std::move(name)](const AnyImage& in, AnyImage& out, std::uint64_t seed) mutable {
        std::visit(
            [&](const auto& img) {
                using In = typename std::remove_cvref_t<decltype(img)>::value_type;
                if constexpr (TransformOn<T, In>) {
                    using Out = typename T::template output_t<In>;
                    if constexpr (std::is_same_v<Out, std::uint8_t> || std::is_same_v<Out, float>) {
                        if (!std::holds_alternative<Image<Out>>(out)) out.template emplace<Image<Out>>();
                        auto& o = std::get<Image<Out>>(out);
                        if constexpr (RandomTransformOn<T, In>) t(img, o, seed);
                        else t(img, o);
                        return;
                    }
                }
                throw ConfigError("preprocessing operation " + name + " cannot take a " + element_name(in) + " image");
            },
            in);
    };
}

// Reads a JSON array of numbers.
template <class T>
std::vector<T> json_numbers(io::detail::JsonReader& r) {
    std::vector<T> v;
    r.begin_array();
    while (r.next_element()) v.push_back(static_cast<T>(r.number()));
    return v;
}

inline Inter json_inter(io::detail::JsonReader& r, const std::string& op) {
    const double i = r.number();
    if (i == 4) throw ConfigError(op + " uses interpolation 4 (PILCUBIC, MindSpore's own Pillow-style cubic), which mindsave does not offer");
    if (!(i >= 0 && i <= 3)) throw ConfigError(op + " has interpolation " + mindsave::detail::python_float_repr(i) + ", not one of 0 to 4");
    return static_cast<Inter>(static_cast<int>(i));
}

inline std::pair<std::size_t, std::size_t> json_size(io::detail::JsonReader& r, const std::string& op) {
    const auto s = json_numbers<double>(r);
    if (s.empty() || s.size() > 2 || s[0] < 1 || s.back() < 1)
        throw ConfigError(op + " size must be [size] or [height, width] of positive integers");
    return {static_cast<std::size_t>(s[0]), s.size() == 2 ? static_cast<std::size_t>(s[1]) : 0};
}

// One MindSpore operation rebuilt from its tensor_op_name and tensor_op_params.
inline PreprocessStep make_operation(const PreprocessOp& op) {
    io::detail::JsonReader r(op.tensor_op_params);
    const std::string& name = op.tensor_op_name;
    std::string key;
    const bool has_params = !r.null();
    if (has_params) r.begin_object();
    const auto members = [&](auto&& on_key) {
        if (!has_params) return;
        while (r.next_member(key))
            if (!on_key(key)) r.skip_value();  // device_target and other keys that change nothing here
    };
    if (name == "Decode") {
        bool rgb = true;
        members([&](const std::string& k) { return k == "rgb" ? (rgb = r.boolean(), true) : false; });
        if (!rgb) throw ConfigError("Decode with rgb false: MindSpore decodes into RGB only");
        return make_step(Decode{}, name);
    }
    if (name == "Resize") {
        std::pair<std::size_t, std::size_t> size{0, 0};
        Inter inter = Inter::LINEAR;
        members([&](const std::string& k) {
            if (k == "size") return size = json_size(r, name), true;
            if (k == "interpolation") return inter = json_inter(r, name), true;
            return false;
        });
        if (size.first == 0) throw ConfigError("Resize without a size");
        return size.second ? make_step(Resize(size.first, size.second, inter), name) : make_step(Resize(size.first, inter), name);
    }
    if (name == "CenterCrop") {
        std::pair<std::size_t, std::size_t> size{0, 0};
        members([&](const std::string& k) { return k == "size" ? (size = json_size(r, name), true) : false; });
        if (size.first == 0) throw ConfigError("CenterCrop without a size");
        return make_step(CenterCrop(size.first, size.second ? size.second : size.first), name);
    }
    if (name == "Normalize") {
        std::vector<float> mean, std;
        bool is_hwc = true;
        members([&](const std::string& k) {
            if (k == "mean") return mean = json_numbers<float>(r), true;
            if (k == "std") return std = json_numbers<float>(r), true;
            if (k == "is_hwc") return is_hwc = r.boolean(), true;
            return false;
        });
        return make_step(Normalize(std::move(mean), std::move(std), is_hwc), name);
    }
    if (name == "Rescale") {
        Rescale t;
        members([&](const std::string& k) {
            if (k == "rescale") return t.rescale = r.number(), true;
            if (k == "shift") return t.shift = r.number(), true;
            return false;
        });
        return make_step(t, name);
    }
    if (name == "HwcToChw") {
        members([](const std::string&) { return false; });
        return make_step(HWC2CHW{}, name);
    }
    if (name == "TypeCast") {
        std::string type;
        members([&](const std::string& k) { return k == "data_type" ? (type = r.string(), true) : false; });
        if (type == "float32") return make_step(transforms::TypeCast<float>{}, name);
        if (type == "uint8") return make_step(transforms::TypeCast<std::uint8_t>{}, name);
        throw ConfigError("TypeCast to \"" + type + "\": mindsave's preprocessing holds uint8 and float32 images only");
    }
    if (name == "RandomHorizontalFlip") {
        double prob = 0.5;
        members([&](const std::string& k) { return k == "prob" ? (prob = r.number(), true) : false; });
        return make_step(RandomHorizontalFlip(prob), name);
    }
    if (name == "RandomCropDecodeResize") {
        std::pair<std::size_t, std::size_t> size{0, 0};
        std::vector<float> scale{0.08f, 1.f}, ratio{3.f / 4.f, 4.f / 3.f};
        Inter inter = Inter::LINEAR;
        std::size_t attempts = 10;
        members([&](const std::string& k) {
            if (k == "size") return size = json_size(r, name), true;
            if (k == "scale") return scale = json_numbers<float>(r), true;
            if (k == "ratio") return ratio = json_numbers<float>(r), true;
            if (k == "interpolation") return inter = json_inter(r, name), true;
            if (k == "max_attempts") return attempts = static_cast<std::size_t>(r.number()), true;
            return false;
        });
        if (size.first == 0 || scale.size() != 2 || ratio.size() != 2)
            throw ConfigError("RandomCropDecodeResize needs a size and two-value scale and ratio");
        return make_step(RandomCropDecodeResize(size.first, size.second ? size.second : size.first, {scale[0], scale[1]},
                                                {ratio[0], ratio[1]}, inter, attempts),
                         name);
    }
    throw ConfigError("preprocessing operation \"" + name +
                      "\" is not one mindsave runs (Decode, Resize, CenterCrop, Normalize, Rescale, HwcToChw, TypeCast, "
                      "RandomHorizontalFlip, RandomCropDecodeResize)");
}

inline std::vector<std::string> json_string_list(std::string_view text) {
    io::detail::JsonReader r(text);
    std::vector<std::string> v;
    r.begin_array();
    while (r.next_element()) v.push_back(r.string());
    r.end();
    return v;
}

inline std::vector<PreprocessOp> json_operations(std::string_view text) {
    io::detail::JsonReader r(text);
    std::vector<PreprocessOp> ops;
    r.begin_array();
    while (r.next_element()) {
        PreprocessOp op;
        std::string key;
        bool named = false;
        r.begin_object();
        while (r.next_member(key)) {
            if (key == "tensor_op_name") {
                op.tensor_op_name = r.string(), named = true;
            } else if (key == "tensor_op_params") {
                const std::size_t start = r.offset();
                r.skip_value();
                op.tensor_op_params = std::string(text.substr(start, r.offset() - start));
                const auto first = op.tensor_op_params.find_first_not_of(" \t\r\n");
                op.tensor_op_params.erase(0, first == std::string::npos ? op.tensor_op_params.size() : first);
            } else {
                r.skip_value();
            }
        }
        if (!named) r.fail("an operation without a tensor_op_name");
        ops.push_back(std::move(op));
    }
    r.end();
    return ops;
}

}  // namespace detail

// The stages of a MindIR's preprocessor, as MindSpore's loader reads them: every node must be a Map;
// only the stages on the "image" column are kept. A file without a preprocessor gives none.
inline std::vector<PreprocessStage> preprocess_stages(const std::vector<format::MindirPreprocessOp>& ops,
                                                      const std::filesystem::path& file = "<memory>") {
    std::vector<PreprocessStage> stages;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        const auto& op = ops[i];
        try {
            if (op.op_type != "\"Map\"")
                throw FormatError(file, "preprocessor node " + std::to_string(i) + " has op_type " + op.op_type +
                                            "; MindSpore stores (and runs) only \"Map\" nodes");
            PreprocessStage s;
            s.input_columns = detail::json_string_list(op.input_columns);
            s.output_columns = op.output_columns.empty() ? s.input_columns : detail::json_string_list(op.output_columns);
            s.operations = detail::json_operations(op.operations);
            s.offload = op.offload;
            if (s.input_columns == std::vector<std::string>{"image"}) stages.push_back(std::move(s));
        } catch (const io::detail::JsonError& e) {
            throw FormatError(file, "preprocessor node " + std::to_string(i) + " is not MindSpore's JSON: " + e.what +
                                        " at byte " + std::to_string(e.offset));
        }
    }
    return stages;
}

// A runnable preprocessing pipeline: encoded image bytes in, a float32 image out (CHW when it ends in
// HwcToChw). Each call reuses the images of the previous one.
class Preprocess {
public:
    explicit Preprocess(std::vector<PreprocessStage> stages) : stages_(std::move(stages)) {
        for (const auto& s : stages_)
            for (const auto& op : s.operations) {
                try {
                    steps_.push_back(detail::make_operation(op));
                } catch (const io::detail::JsonError& e) {
                    throw ConfigError("preprocessing operation " + op.tensor_op_name + " has parameters that are not JSON: " +
                                      e.what + " in " + op.tensor_op_params);
                }
            }
        images_.resize(steps_.size() + 1);
    }

    const std::vector<PreprocessStage>& stages() const noexcept { return stages_; }
    std::size_t operation_count() const noexcept { return steps_.size(); }

    // Runs every operation on one image's file bytes; seed feeds the random operations.
    const Image<float>& operator()(std::span<const std::uint8_t> encoded, std::string_view origin = "<memory>",
                                   std::uint64_t seed = 0) {
        encoded_input().data.assign(encoded.begin(), encoded.end());
        return run(origin, seed);
    }

    // A batch of image files as the network's input: [N, C, H, W] (or [N, H, W, C] without HwcToChw).
    void run_files(std::span<const std::filesystem::path> files, Tensor& batch) {
        for (std::size_t i = 0; i < files.size(); ++i) {
            read_file_bytes(files[i], encoded_input().data);  // straight into the first stage
            const Image<float>& img = run(files[i].native(), 0);
            if (i == 0) {
                if (img.layout == Layout::CHW) ensure_shape(batch, {files.size(), img.channels, img.height, img.width});
                else ensure_shape(batch, {files.size(), img.height, img.width, img.channels});
            } else if (img.size() * files.size() != batch.size()) {
                throw ShapeError("preprocessing gave " + files[i].string() + " a different shape from " + files[0].string() +
                                 "; the pipeline needs a Resize or CenterCrop to a fixed size to batch them");
            }
            std::copy(img.data.begin(), img.data.end(), batch.data() + i * img.size());
        }
    }

private:
    // The first stage's image, holding a file's bytes (its buffer kept from call to call).
    Image<std::uint8_t>& encoded_input() {
        if (!std::holds_alternative<Image<std::uint8_t>>(images_[0])) images_[0].emplace<Image<std::uint8_t>>();
        return std::get<Image<std::uint8_t>>(images_[0]);
    }

    // Every operation on the bytes in encoded_input().
    const Image<float>& run(std::string_view origin, std::uint64_t seed) {
        auto& in = encoded_input();
        in.height = 1, in.width = in.data.size(), in.channels = 1, in.layout = Layout::Encoded;
        in.origin.assign(origin);
        for (std::size_t i = 0; i < steps_.size(); ++i) steps_[i](images_[i], images_[i + 1], data::detail::mix_seed(seed, i, 0));
        if (!std::holds_alternative<Image<float>>(images_.back()))
            throw ConfigError("the preprocessing ends in " + std::string(detail::element_name(images_.back())) +
                              " images (" + std::string(origin) +
                              "); a network takes float32: the pipeline needs a Rescale, Normalize or TypeCast");
        return std::get<Image<float>>(images_.back());
    }

    std::vector<PreprocessStage> stages_;
    std::vector<detail::PreprocessStep> steps_;
    std::vector<detail::AnyImage> images_;
};

// The preprocessing stored in a MindIR (ms.export(net, dataset, ...)), ready to run. A file without one
// is a FormatError.
inline Preprocess load_preprocess(const std::filesystem::path& mindir_file) {
    const format::mindir::Mapped model(mindir_file);
    auto stages = preprocess_stages(model.preprocessor(), mindir_file);
    if (stages.empty())
        throw FormatError(mindir_file, "holds no preprocessing on the \"image\" column (export it with the dataset: "
                                       "export_model<format::mindir>(net, dataset, file))");
    try {
        return Preprocess(std::move(stages));
    } catch (const ConfigError& e) {
        throw FormatError(mindir_file, e.what());
    }
}

// Preprocesses image files and predicts on them, as PredictWithPreprocess does: model is anything with
// predict(const Tensor&) (mindsave::Model). inputs keeps the batch; the logits are the model's.
template <class M>
    requires requires(M& m, const Tensor& t) { m.predict(t); }
decltype(auto) predict_with_preprocess(M& model, Preprocess& preprocess, std::span<const std::filesystem::path> files,
                                       Tensor& inputs) {
    if (files.empty()) throw ConfigError("predict_with_preprocess needs at least one image file");
    preprocess.run_files(files, inputs);
    return model.predict(inputs);
}

}  // namespace mindsave::data::vision
