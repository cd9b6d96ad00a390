// ResNet50 on real photos (the image component): fine-tuning ResNet50<2> on dog / croissant photos lowers its
// training loss.
#include <algorithm>
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
