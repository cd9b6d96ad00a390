// A real MindSpore LeNet5 checkpoint, decoded by the minimal .ckpt reader, loaded into our LeNet5:
// it must classify the real MNIST test set as MindSpore's own network does.
#include <cstring>
#include <fstream>
#include <map>

#include <catch2/catch.hpp>

#include "mindsave/data/mnist.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/formats/ckpt.hpp"
#include "mindsave/mindsave.hpp"
#include "support/mnist_eval_set.hpp"
#include "support/shared_data.hpp"

using namespace mindsave;

namespace {

// Copies records into the parameters of the same name, checking dtype and shape. (The full
// load_param_into_net with matching policies is the checkpoint layer's; this is the minimum.)
template <class Net>
std::size_t assign_by_name(Net& net, const std::vector<TensorRecord>& records) {
    std::map<std::string, const TensorRecord*> by_name;
    for (const auto& r : records) by_name[r.name] = &r;
    std::size_t assigned = 0;
    visit_parameters(net, [&](std::string_view name, auto& p) {
        const auto it = by_name.find(std::string(name));
        REQUIRE(it != by_name.end());
        const auto view = view_of(p);
        REQUIRE(it->second->dtype == view.dtype);
        REQUIRE(it->second->shape == view.shape);
        REQUIRE(it->second->data.size() == view.bytes.size());
        std::memcpy(view.bytes.data(), it->second->data.data(), view.bytes.size());
        ++assigned;
    });
    return assigned;
}

}  // namespace

TEST_CASE("the real MindSpore LeNet5 training checkpoint decodes into its 19 records", "[fixture][ckpt]") {
    const auto path = testing::require_shared("fixtures/mindspore/ckpt/xmu_ai_isp__checkpoint_lenet-1_1875.ckpt");
    const auto records = format::ckpt::read(path);
    REQUIRE(records.size() == 19);
    const std::vector<std::string> first{"conv1.weight", "conv2.weight", "fc1.weight", "fc1.bias", "fc2.weight",
                                         "fc2.bias",     "fc3.weight",   "fc3.bias",   "global_step", "learning_rate",
                                         "momentum"};
    for (std::size_t i = 0; i < first.size(); ++i) CHECK(records[i].name == first[i]);
    CHECK(records[11].name == "moments.conv1.weight");
    CHECK(records[18].name == "moments.fc3.bias");
    CHECK(records[0].shape == Shape{6, 1, 5, 5});
    CHECK(records[2].shape == Shape{120, 400});
    const auto w = records[0].values<float>();
    CHECK(w[0] == Approx(0.14407966f));
    CHECK(w[1] == Approx(0.16289030f));
    CHECK(w[2] == Approx(0.0019385513f));
    CHECK(w[3] == Approx(-0.14924431f));
    CHECK(records[8].dtype == DType::Int32);
    CHECK(records[8].shape == Shape{1});
    CHECK(records[9].shape.empty());  // dims [0]: a pre-2.3 scalar
    CHECK(records[9].values<float>()[0] == Approx(0.01f));
    CHECK(records[10].values<float>()[0] == Approx(0.9f));
}

TEST_CASE("the 0.x-era LeNet5 checkpoint decodes with its Float64 hyper-parameters", "[fixture][ckpt]") {
    const auto path = testing::require_shared("fixtures/mindspore/ckpt/mindarmour__checkpoint_lenet-10_1875.ckpt");
    const auto records = format::ckpt::read(path);
    REQUIRE(records.size() == 18);
    CHECK(records[8].name == "learning_rate");
    CHECK(records[8].dtype == DType::Float64);
    CHECK(records[8].values<double>()[0] == Approx(0.001));
}

TEST_CASE("MindSpore's trained LeNet5 weights classify real MNIST at 0.968 +- 0.003", "[fixture][model]") {
    const auto ckpt = testing::require_shared("fixtures/mindspore/ckpt/xmu_ai_isp__checkpoint_lenet-1_1875.ckpt");
    const auto mnist = testing::require_shared("data/mnist");
    LeNet5<> net;
    CHECK(assign_by_name(net, format::ckpt::read(ckpt)) == 8);

    auto test = testing::mnist_eval_set(mnist, 256);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    const EvalResult r = model.eval(test);
    CHECK(r.samples == 10000);
    INFO("accuracy " << r.accuracy);
    CHECK(r.accuracy == Approx(0.968).margin(0.003));
}

TEST_CASE("a truncated or corrupted checkpoint is a FormatError naming the file", "[ckpt][errors]") {
    const auto path = testing::require_shared("fixtures/mindspore/ckpt/nsu_huawei__LinearNet_17_step.ckpt");
    const auto bytes = [&] {
        std::ifstream in(path, std::ios::binary);
        return std::vector<char>(std::istreambuf_iterator<char>(in), {});
    }();
    REQUIRE(bytes.size() == 64);
    const auto records = format::ckpt::read(path);
    REQUIRE(records.size() == 2);
    CHECK(records[0].values<float>()[0] == Approx(2.8317256f));
    const auto tmp = std::filesystem::temp_directory_path() / "mindsave_truncated.ckpt";
    for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            out.write(bytes.data(), static_cast<std::streamsize>(cut));
        }
        INFO("cut at " << cut);
        try {
            const auto partial = format::ckpt::read(tmp);
            // a cut exactly between records leaves a valid, shorter file
            CHECK(partial.size() == 1);
        } catch (const FormatError& e) {
            CHECK_THAT(e.what(), Catch::Contains("mindsave_truncated.ckpt"));
        }
    }
    std::filesystem::remove(tmp);
    CHECK_THROWS_AS(format::ckpt::read("/nonexistent/x.ckpt"), FileError);
}
