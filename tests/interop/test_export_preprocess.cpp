// Export with a dataset: ResNet50<2> and the seed pipeline (ImageFolderDataset, Decode, Resize(256),
// CenterCrop(224), Normalize, HWC2CHW) written as MindIR with its preprocessor. protoc's code for mind_ir.proto
// decodes it, with MindSpore's op names, parameter names and JSON layout; load_preprocess rebuilds the same
// pipeline; predict_with_preprocess on raw JPEGs equals decoding and preprocessing by hand.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "export_support.hpp"
#include "mindsave/data/vision.hpp"
#include "mindsave/mindsave.hpp"
#include "support/shared_data.hpp"

using namespace mindsave;
using namespace mindsave::export_testing;
using namespace mindsave::data;

namespace {

// MindSpore's Normalize for ImageNet, in 0..255 (the seed flows' mean and std, products in double as Python
// computes them, then float32 as MindSpore keeps them).
vision::Normalize imagenet_normalize() {
    const auto f = [](double v) { return static_cast<float>(v); };
    return vision::Normalize({f(0.485 * 255), f(0.456 * 255), f(0.406 * 255)}, {f(0.229 * 255), f(0.224 * 255), f(0.225 * 255)});
}

auto seed_dataset(const fs::path& root, std::size_t batch) {
    return ImageFolderDataset(root)
        .map(vision::Decode{}, vision::Resize(256), vision::CenterCrop(224), imagenet_normalize(), vision::HWC2CHW{})
        .batch(batch, true);
}

// The operations as MindSpore's to_json writes them (kernels/ir/vision/*_ir.cc; keys sorted by
// nlohmann's map; float32 parameters widened to double and printed as Python's repr).
const std::vector<std::string> mindspore_ops{
    R"(op Decode {"device_target": "CPU", "rgb": true})",
    R"(op Resize {"device_target": "CPU", "interpolation": 0, "size": [256]})",
    R"(op CenterCrop {"size": [224, 224]})",
    R"(op Normalize {"device_target": "CPU", "is_hwc": true, "mean": [123.67500305175781, 116.27999877929688, 103.52999877929688], "std": [58.39500045776367, 57.119998931884766, 57.375]})",
    R"(op HwcToChw null)",
};

std::vector<std::string> lines_starting(const std::string& out, const std::string& prefix) {
    std::vector<std::string> v;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(prefix, 0) == 0) v.push_back(line);
    return v;
}

}  // namespace

TEST_CASE("A MindIR exported with the seed dataset holds MindSpore's preprocessor, as protoc's code reads it",
          "[export][mindir][preprocess]") {
    require_python_onnx();
    const fs::path root = testing::require_shared("data/dog_croissants");
    ResNet50<2> net(5);
    auto dataset = seed_dataset(root, 4);
    TempDir dir("preprocess");
    const auto files = export_model<format::mindir>(net, dataset, dir.path / "resnet50_224");
    REQUIRE(files == std::vector<fs::path>{dir.path / "resnet50_224.mindir"});
    const auto check = run(python + " " + scripts + "/check_model.py preprocessor " + files[0].string() + " " + pb_dir);
    INFO(check.out.substr(0, 3000));
    REQUIRE(check.status == 0);
    CHECK(lines_starting(check.out, "stage") == std::vector<std::string>{R"(stage ["image"] ["image"] False)"});
    CHECK(lines_starting(check.out, "op") == mindspore_ops);
    const auto inputs = lines_starting(check.out, "input");
    REQUIRE(inputs.size() == 1);
    CHECK(inputs[0].ends_with(" 4x3x224x224"));  // shaped by the dataset's batches

    // Read back: the same stages, and the network's weights as they were.
    const format::mindir::Mapped model(files[0]);
    REQUIRE(model.preprocessor().size() == 1);
    CHECK(model.preprocessor()[0].op_type == "\"Map\"");
    CHECK(vision::preprocess_stages(model.preprocessor()) == dataset.preprocess_stages());
    CHECK(vision::load_preprocess(files[0]).operation_count() == 5);

    // A file exported without a dataset has no preprocessing to load.
    const auto plain = export_model<format::mindir>(net, Shape{1, 3, 224, 224}, dir.path / "plain");
    CHECK_THROWS_AS(vision::load_preprocess(plain[0]), FormatError);
}

TEST_CASE("predict_with_preprocess on raw JPEGs equals decoding, preprocessing and predicting by hand",
          "[export][mindir][preprocess]") {
    const fs::path root = testing::require_shared("data/dog_croissants");
    ResNet50<2> net(6);
    TempDir dir("predict_preprocess");
    const auto files = export_model<format::mindir>(net, seed_dataset(root, 2), dir.path / "resnet50_224");
    auto preprocess = vision::load_preprocess(files[0]);

    const std::vector<fs::path> photos{root / "dog" / "00001.jpg", root / "croissants" / "00007.jpg",
                                       root / "dog" / "00010.jpg"};
    Model model(net);
    Tensor inputs;
    const Tensor logits = vision::predict_with_preprocess(model, preprocess, photos, inputs);
    REQUIRE(logits.shape()[0] == 3);

    // By hand: each transform in turn, then predict.
    Tensor by_hand = Tensor::from_shape({3, 3, 224, 224});
    for (std::size_t i = 0; i < photos.size(); ++i) {
        const auto decoded = vision::read_image(photos[i]);
        Image<std::uint8_t> resized, cropped;
        Image<float> normalized, chw;
        vision::Resize(256)(decoded, resized);
        vision::CenterCrop(224)(resized, cropped);
        imagenet_normalize()(cropped, normalized);
        vision::HWC2CHW{}(normalized, chw);
        std::copy(chw.data.begin(), chw.data.end(), by_hand.data() + i * chw.size());
    }
    CHECK(std::equal(inputs.begin(), inputs.end(), by_hand.begin()));
    const Tensor expected = model.predict(by_hand);
    CHECK(std::equal(logits.begin(), logits.end(), expected.begin()));
}

TEST_CASE("A preprocessor written by hand in MindSpore's layout is read, and foreign or damaged ones are refused",
          "[export][mindir][preprocess]") {
    // As MindSpore writes it for a training pipeline: a label TypeCast (skipped: not the image column),
    // then RandomCropDecodeResize, RandomHorizontalFlip, Rescale, HwcToChw.
    std::vector<format::MindirPreprocessOp> ops{
        {R"(["label"])", R"(["label"])", R"("Map")", R"([{"tensor_op_name": "TypeCast", "tensor_op_params": {"data_type": "int32"}}])", false},
        {R"(["image"])", R"(["image"])", R"("Map")",
         R"([{"tensor_op_name": "RandomCropDecodeResize", "tensor_op_params": {"interpolation": 0, "max_attempts": 10, "ratio": [0.75, 1.3333333730697632], "scale": [0.07999999821186066, 1.0], "size": [224, 224]}}, )"
         R"({"tensor_op_name": "RandomHorizontalFlip", "tensor_op_params": {"prob": 0.5}}, )"
         R"({"tensor_op_name": "Rescale", "tensor_op_params": {"rescale": 0.003921568859368563, "shift": 0.0}}, )"
         R"({"tensor_op_name": "HwcToChw", "tensor_op_params": null}])",
         false}};
    const auto stages = vision::preprocess_stages(ops);
    REQUIRE(stages.size() == 1);
    vision::Preprocess p(stages);
    CHECK(p.operation_count() == 4);
    const fs::path photo = testing::require_shared("data/dog_croissants/dog/00001.jpg");
    std::vector<std::uint8_t> bytes;
    vision::read_file_bytes(photo, bytes);
    const auto& out = p(bytes, photo.native(), 7);
    CHECK(out.layout == Layout::CHW);
    CHECK(out.height == 224);
    CHECK(std::all_of(out.data.begin(), out.data.end(), [](float v) { return v >= 0.f && v <= 1.f; }));
    // The same transforms, built in C++, describe themselves with the same JSON.
    CHECK(vision::RandomCropDecodeResize(224).mindspore_op().tensor_op_params == stages[0].operations[0].tensor_op_params);
    CHECK(vision::RandomHorizontalFlip().mindspore_op().tensor_op_params == R"({"prob": 0.5})");
    CHECK(vision::Rescale{1.0 / 255}.mindspore_op().tensor_op_params == R"({"rescale": 0.003921568859368563, "shift": 0.0})");

    auto bad = ops;
    bad[1].op_type = R"("Batch")";
    CHECK_THROWS_AS(vision::preprocess_stages(bad), FormatError);
    bad = ops;
    bad[1].operations = R"([{"tensor_op_name": "Resize", "tensor_op_params": {"size": [)";
    CHECK_THROWS_AS(vision::preprocess_stages(bad), FormatError);
    bad = ops;
    bad[1].operations = R"([{"tensor_op_name": "Equalize", "tensor_op_params": {}}])";
    CHECK_THROWS_AS(vision::Preprocess(vision::preprocess_stages(bad)), ConfigError);
    bad[1].operations = R"([{"tensor_op_name": "Resize", "tensor_op_params": {"size": [8], "interpolation": 4}}])";
    CHECK_THROWS_AS(vision::Preprocess(vision::preprocess_stages(bad)), ConfigError);
}
