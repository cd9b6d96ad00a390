// ResNet50 (BatchNorm, residual Add, global pooling) exported to ONNX and MindIR: ONNX Runtime gives
// predict's logits; the weights, moving statistics included, come back bit-exactly. Its own TU: ResNet50's
// type is large, and kept out of the LeNet export tests' build.
#include <catch2/catch.hpp>

#include "export_support.hpp"
#include "mindsave/data/mnist.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/mindsave.hpp"
#include "support/shared_data.hpp"

using namespace mindsave;
using namespace mindsave::export_testing;
namespace vision = mindsave::data::vision;

TEST_CASE("ResNet50 exported to ONNX runs in ONNX Runtime as predict does, BatchNorm statistics included",
          "[export][onnx][resnet]") {
    require_python_onnx();
    require_onnxruntime();
    ResNet50<10> net(4);
    // trained-looking BatchNorm state: moving statistics and affine parameters away from 0 and 1
    Generator g(11);
    RecordViews views;
    views.add_parameters(net);
    for (const auto& v : views.views()) {
        auto* f = reinterpret_cast<float*>(const_cast<std::byte*>(v.data.data()));  // the network's own memory
        const std::size_t n = v.data.size() / sizeof(float);
        const std::string_view name = v.name;
        for (std::size_t i = 0; i < n; ++i) {
            if (name.ends_with("moving_variance")) f[i] = static_cast<float>(0.5 + g.uniform());
            else if (name.ends_with("moving_mean") || name.ends_with("beta")) f[i] = static_cast<float>(0.1 * g.normal());
            else if (name.ends_with("gamma")) f[i] = static_cast<float>(1.0 + 0.1 * g.normal());
        }
    }
    net.set_train(false);
    // two real MNIST test images at 64 x 64, the grey channel repeated three times
    auto test = data::MnistDataset(testing::require_shared("data/mnist"), "test")
                    .take(2)
                    .map(vision::Resize{64, 64}, vision::Rescale{1.0 / 255.0, -0.5}, vision::HWC2CHW{})
                    .batch(2, false);
    Batch b;
    REQUIRE(test.next(b));
    Tensor images = Tensor::from_shape({2, 3, 64, 64});
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t c = 0; c < 3; ++c)
            std::copy_n(b.images.data() + n * 64 * 64, 64 * 64, images.data() + (n * 3 + c) * 64 * 64);
    Tensor expected;
    net.forward(images, expected);

    TempDir dir("resnet");
    const auto files = export_model<format::onnx>(net, images, dir.path / "resnet50");
    const auto check = run(python + " " + scripts + "/check_model.py onnx " + files[0].string());
    INFO(check.out.substr(0, 2000));
    REQUIRE(check.status == 0);
    std::map<std::string, std::string> ours;
    for (const auto& v : views.views()) {
        std::string dims;
        for (auto d : v.shape) dims += (dims.empty() ? "" : "x") + std::to_string(d);
        ours[std::string(v.name)] = dims + " " + std::to_string(io::crc32(v.data));
    }
    CHECK(ours.size() == 267);
    CHECK(crcs_from(check.out, "init") == ours);
    const auto ops = ops_from(check.out);
    CHECK(ops.count("Conv") == 53);
    CHECK(ops.count("BatchNormalization") == 53);
    CHECK(ops.count("Add") == 16);
    CHECK(ops.count("GlobalAveragePool") == 1);
    float scale = 0;
    for (float v : expected) scale = std::max(scale, std::abs(v));
    const float diff = max_abs_diff(expected, run_in_onnxruntime(files[0], images, dir.path));
    INFO("max |diff| " << diff << ", max |logit| " << scale);
    CHECK(diff <= 1e-4f * std::max(1.0f, scale));

    for (const auto& file : {files[0], export_model<format::mindir>(net, images, dir.path / "resnet50").front()}) {
        const auto dict = load_checkpoint(file);
        CHECK(dict.size() == 267);
        for (const auto& v : views.views()) {
            const TensorRecord* r = dict.find(v.name);
            REQUIRE(r != nullptr);
            CHECK(r->shape == v.shape);
            CHECK((r->data.size() == v.data.size() && std::memcmp(r->data.data(), v.data.data(), v.data.size()) == 0));
        }
    }
}
