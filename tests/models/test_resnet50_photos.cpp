// ResNet50 on real photos (the image component): fine-tuning ResNet50<2> on dog / croissant photos lowers its
// training loss; inference with BatchNorm, ReLU and the residual adds fused into the convolutions gives forward's logits.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/data/vision.hpp"
#include "mindsave/mindsave.hpp"
#include "support/shared_data.hpp"

using namespace mindsave;
using namespace mindsave::data;

namespace {

// Records each step's loss.
struct LossLog {
    std::vector<float>* losses;
    template <class Ctx>
    void on_train_step_end(Ctx& ctx) {
        losses->push_back(ctx.net_outputs);
    }
};

}  // namespace

TEST_CASE("Fine-tuning ResNet50<2> on dog and croissant photos lowers its training loss", "[resnet][vision]") {
    const auto root = testing::require_shared("data/dog_croissants");
    // Four photos of each class, decoded and brought to 64 x 64 (ResNet50 pools globally: any size works).
    ImageFolderOptions o;
    o.decode = true;
    ImageFolderDataset all(root, o);
    auto [eight, rest] = all.split({8.0 / 108, 100.0 / 108}, true, 4);  // any eight photos, fixed by the seed
    (void)rest;
    auto train = eight.map(vision::Resize(64, 64), vision::Rescale{1.0 / 255, -0.5}, vision::HWC2CHW{}).batch(8);
    ResNet50<2> net(3);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum optimizer(net, {.learning_rate = 0.002f, .momentum = 0.9f});
    Model model(net, loss, optimizer);
    std::vector<float> losses;
    model.train(8, train, LossLog{&losses});
    REQUIRE(losses.size() == 8);
    INFO("losses: " << Catch::Detail::stringify(losses));
    CHECK(losses.back() < losses.front());
    CHECK(losses[6] + losses[7] < losses[0] + losses[1]);
}

TEST_CASE("ResNet50's fused inference (Model::predict) gives the unfused forward's logits on real photos at 224 x 224, "
          "with BatchNorm statistics trained away from their defaults, at batch 8 and 1", "[resnet][vision][inference]") {
    const auto root = testing::require_shared("data/dog_croissants");
    ImageFolderOptions o;
    o.decode = true;
    ImageFolderDataset all(root, o);
    auto [eight, rest] = all.split({8.0 / 108, 100.0 / 108}, true, 5);
    (void)rest;
    auto photos = eight.map(vision::Resize(224, 224), vision::Rescale{1.0 / 255, -0.5}, vision::HWC2CHW{}).batch(8);
    Batch batch;
    photos.reset(0);
    REQUIRE(photos.next(batch));
    REQUIRE(batch.images.shape()[0] == 8);
    ResNet50<2> net(6);
    net.set_train(true);  // two training-mode forwards on the photos move every moving mean and variance
    Tensor logits;
    for (int i = 0; i < 2; ++i) net.forward(batch.images, logits);
    std::size_t moved = 0;
    visit_parameters(net, [&](std::string_view name, auto& p) {
        if constexpr (!requires { p.value; })
            if (name.ends_with("moving_mean") && std::any_of(p.begin(), p.end(), [](float v) { return v != 0.0f; })) ++moved;
    });
    REQUIRE(moved == 53);
    net.set_train(false);
    Model model(net);
    const auto compare = [&](const Tensor& images) {
        Tensor unfused;
        net.set_train(false);  // predict leaves the network in training mode, as Model::train expects it
        net.forward(images, unfused);
        const Tensor& fused = model.predict(images);
        REQUIRE(fused.shape() == unfused.shape());
        double worst = 0.0, scale = 0.0;
        for (std::size_t i = 0; i < fused.size(); ++i) {
            worst = std::max(worst, double(std::abs(fused.data()[i] - unfused.data()[i])));
            scale = std::max(scale, double(std::abs(unfused.data()[i])));
        }
        INFO("largest logit " << scale << ", largest difference " << worst);
        CHECK(worst <= 1e-5 * scale);
        // the fused stores compute what the unfused layers compute, in the same order: the very same bits
        CHECK(std::memcmp(fused.data(), unfused.data(), fused.size() * sizeof(float)) == 0);
    };
    compare(batch.images);
    Tensor one = Tensor::from_shape({1, 3, 224, 224});
    std::copy(batch.images.data(), batch.images.data() + one.size(), one.data());
    compare(one);
}
