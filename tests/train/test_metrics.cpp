// Metrics (train/metrics.hpp): MindSpore's documented values, Python's and numpy's printing, the errors,
// a user's metric, and Model::eval's metric map on real MNIST predictions against a count made here.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/mindsave.hpp"
#include "support/mnist_eval_set.hpp"
#include "support/shared_data.hpp"

using namespace mindsave;

namespace {

template <class T>
std::string printed(const T& v) {
    std::ostringstream os;
    os << v;
    return os.str();
}

// MindSpore's docstring inputs for the classification metrics and for top-k.
const Tensor two_class = {{0.2f, 0.5f}, {0.3f, 0.1f}, {0.9f, 0.6f}};
const Labels two_class_labels = {1, 0, 1};
const Tensor five_class = {{0.2f, 0.5f, 0.3f, 0.6f, 0.2f}, {0.1f, 0.35f, 0.5f, 0.2f, 0.f}, {0.9f, 0.6f, 0.2f, 0.01f, 0.3f}};
const Labels five_class_labels = {2, 0, 1};

}  // namespace

TEST_CASE("each metric gives the value MindSpore's documentation prints for its example", "[metrics]") {
    metrics::Accuracy accuracy;
    accuracy.update(two_class, two_class_labels);
    CHECK(printed(accuracy.eval()) == "0.6666666666666666");
    metrics::Precision precision;
    precision.update(two_class, two_class_labels);
    CHECK(precision.eval().per_class() == std::vector<double>{0.5, 1.0});
    CHECK(printed(precision.eval()) == "array([0.5, 1. ])");
    CHECK(precision.eval(true).scalar() == 0.75);
    metrics::Recall recall;
    recall.update(two_class, two_class_labels);
    CHECK(printed(recall.eval()) == "array([1. , 0.5])");
    metrics::F1 f1;
    f1.update(two_class, two_class_labels);
    CHECK(printed(f1.eval()) == "array([0.66666667, 0.66666667])");
    metrics::TopKCategoricalAccuracy top3(3);
    metrics::Top1CategoricalAccuracy top1;
    metrics::Top5CategoricalAccuracy top5;
    for (auto* m : std::vector<metrics::TopKCategoricalAccuracy*>{&top3, &top1, &top5}) m->update(five_class, five_class_labels);
    CHECK(printed(top3.eval()) == "0.6666666666666666");
    CHECK(printed(top1.eval()) == "0.0");
    CHECK(printed(top5.eval()) == "1.0");
    metrics::Loss loss;
    loss.update(0.5);
    loss.update(0.25);
    CHECK(loss.eval().scalar() == 0.375);
    // clear() starts over
    accuracy.clear();
    accuracy.update(two_class, Labels{1, 0, 0});
    CHECK(accuracy.eval().scalar() == 1.0);
}

TEST_CASE("values print as Python and numpy print them (checked against python3 and numpy 1.24)", "[metrics][print]") {
    const std::vector<std::pair<double, std::string>> floats = {
        {0.9868, "0.9868"}, {1.0, "1.0"}, {0.0001, "0.0001"}, {1e-5, "1e-05"}, {1e16, "1e+16"},
        {1e15, "1000000000000000.0"}, {123.456, "123.456"}, {-2.5, "-2.5"}, {0.1 + 0.2, "0.30000000000000004"},
        {5e-324, "5e-324"}, {1.5e-7, "1.5e-07"}, {0.0, "0.0"}};
    for (const auto& [v, text] : floats) CHECK(detail::python_float_repr(v) == text);
    CHECK(printed(MetricValue(std::vector<double>{0.0, 1.0, 0.25})) == "array([0.  , 1.  , 0.25])");
    CHECK(printed(MetricValue(std::vector<double>{10.5, 0.125})) == "array([10.5  ,  0.125])");
    CHECK(printed(MetricValue(std::vector<double>(12, 1.0 / 3.0))) ==
          "array([0.33333333, 0.33333333, 0.33333333, 0.33333333, 0.33333333,\n"
          "       0.33333333, 0.33333333, 0.33333333, 0.33333333, 0.33333333,\n"
          "       0.33333333, 0.33333333])");
    CHECK(printed(MetricResults{{{"accuracy", 0.9868}, {"loss", 0.1}}}) == "{'accuracy': 0.9868, 'loss': 0.1}");
}

TEST_CASE("metrics refuse what MindSpore's refuse, saying what is wrong", "[metrics][errors]") {
    CHECK_THROWS_WITH(metrics::Accuracy().eval(), Catch::Contains("number of samples is 0"));
    CHECK_THROWS_WITH(metrics::Precision().eval(), Catch::Contains("'Precision'"));
    metrics::Recall recall;
    recall.update(two_class, two_class_labels);
    CHECK_THROWS_WITH(recall.update(five_class, five_class_labels), Catch::Contains("class number not match"));
    CHECK_THROWS_AS(metrics::Accuracy().update(two_class, Labels{1, 0, 2}), ShapeError);  // 2 is not a class of 2
    CHECK_THROWS_AS(metrics::Accuracy().update(two_class, Labels{1, 0}), ShapeError);
    CHECK_THROWS_AS(metrics::Fbeta(0.0), ConfigError);
    CHECK_THROWS_AS(metrics::TopKCategoricalAccuracy(0), ConfigError);
    CHECK_THROWS_WITH(get_metric_fn("acuracy"), Catch::Contains("unsupported metric 'acuracy'") && Catch::Contains("accuracy"));
    CHECK_THROWS_WITH((Metrics{"accuracy", "accuracy"}), Catch::Contains("given twice"));
    CHECK_THROWS_AS(MetricValue(std::vector<double>{0.5}).scalar(), ConfigError);
}

TEST_CASE("a named metric is a value: a copy counts on its own", "[metrics]") {
    NamedMetric a("accuracy", metrics::Accuracy{});
    a.update(two_class, two_class_labels, 0.0);
    NamedMetric b = a;
    b.update(two_class, Labels{1, 0, 0}, 0.0);  // all three right
    CHECK(a.eval().scalar() == 2.0 / 3.0);
    CHECK(b.eval().scalar() == 5.0 / 6.0);
    a = b;
    b.clear();
    CHECK(a.eval().scalar() == 5.0 / 6.0);
    CHECK_THROWS_WITH(b.eval(), Catch::Contains("number of samples is 0"));
}

namespace {
// A user's metric: the fraction of samples predicted as class 0.
struct PredictedZero {
    std::size_t zeros = 0, total = 0;
    void clear() { zeros = total = 0; }
    void update(const Tensor& logits, const Labels& labels) {
        const std::size_t classes = logits.shape()[1];
        for (std::size_t n = 0; n < labels.size(); ++n) {
            const float* z = logits.data() + n * classes;
            zeros += std::max_element(z, z + classes) == z;
        }
        total += labels.size();
    }
    MetricValue eval() const { return static_cast<double>(zeros) / static_cast<double>(total); }
};
static_assert(metrics::Metric<PredictedZero> && metrics::ClassMetric<PredictedZero>);
static_assert(metrics::LossMetric<metrics::Loss> && !metrics::ClassMetric<metrics::Loss>);
}  // namespace

TEST_CASE("Model(net, loss, opt, metrics) evaluates MindSpore's metrics on real MNIST exactly as a count made "
          "here from predict, and prints them as model.eval's dict",
          "[metrics][fixture][model]") {
    const auto ckpt = testing::require_shared("fixtures/mindspore/ckpt/xmu_ai_isp__checkpoint_lenet-1_1875.ckpt");
    const auto mnist = testing::require_shared("data/mnist");
    LeNet5<> net;
    load_param_into_net(net, ckpt);
    auto test = testing::mnist_eval_set(mnist, 500);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt,
                {"accuracy", "loss", "precision", "recall", "F1", "top_1_accuracy", "top_5_accuracy"});
    Model custom(net, loss, opt, {{"zeros", PredictedZero{}}, {"top3", metrics::TopKCategoricalAccuracy(3)}});
    const EvalResult r = model.eval(test);
    const EvalResult c = custom.eval(test);

    // the count: predictions from predict(), tallied by hand
    constexpr std::size_t C = 10;
    std::vector<double> predicted(C), actual(C), hits(C);
    double correct = 0, top5 = 0, top3 = 0, zeros = 0, samples = 0, loss_sum = 0, batches = 0;
    test.reset(0);
    Batch batch;
    while (test.next(batch)) {
        const Tensor logits = model.predict(batch.images);
        loss_sum += loss.forward(logits, batch.labels), ++batches;
        for (std::size_t n = 0; n < batch.labels.size(); ++n) {
            const auto y = static_cast<std::size_t>(batch.labels(n));
            std::size_t best = 0, rank = 0;
            for (std::size_t k = 0; k < C; ++k) {
                if (logits(n, k) > logits(n, best)) best = k;
                if (logits(n, k) > logits(n, y) || (logits(n, k) == logits(n, y) && k < y)) ++rank;
            }
            ++predicted[best], ++actual[y], ++samples;
            if (best == y) ++hits[y], ++correct;
            top5 += rank < 5, top3 += rank < 3, zeros += best == 0;
        }
    }
    REQUIRE(samples == 10000);
    CHECK(r.metrics.at("accuracy").scalar() == correct / samples);
    CHECK(r.metrics.at("accuracy").scalar() == r.accuracy);
    CHECK(r.metrics.at("loss").scalar() == Approx(loss_sum / batches).epsilon(1e-12));
    CHECK(r.metrics.at("top_1_accuracy").scalar() == correct / samples);
    CHECK(r.metrics.at("top_5_accuracy").scalar() == top5 / samples);
    const double eps = std::numeric_limits<double>::min();
    for (std::size_t k = 0; k < C; ++k) {
        INFO("class " << k);
        CHECK(r.metrics.at("precision").per_class()[k] == hits[k] / (predicted[k] + eps));
        CHECK(r.metrics.at("recall").per_class()[k] == hits[k] / (actual[k] + eps));
        CHECK(r.metrics.at("F1").per_class()[k] == 2 * hits[k] / (actual[k] + predicted[k] + eps));
    }
    CHECK(c.metrics.at("zeros").scalar() == zeros / samples);
    CHECK(c.metrics.at("top3").scalar() == top3 / samples);

    const std::string text = printed(r);
    INFO(text);
    CHECK(text.starts_with("{'accuracy': 0.9"));
    CHECK(text.find(", 'precision': array([0.9") != std::string::npos);
    CHECK(text.ends_with(", 'top_5_accuracy': " + detail::python_float_repr(top5 / samples) + "}"));
    // no metrics given: accuracy and loss, as before
    Model plain(net, loss, opt);
    CHECK(printed(plain.eval(test)).starts_with("{'accuracy': " + detail::python_float_repr(r.accuracy) + ", 'loss': "));
}

namespace {
template <class M, class D>
concept CanTrain = requires(M& m, D& d) { m.train(1, d); };
template <class M>
concept CanResume = requires(M& m, const ParameterDict& d) { m.resume(d); };
}  // namespace

TEST_CASE("Model(net) predicts and evaluates label metrics without a loss or an optimizer; Model(net, loss) adds "
          "the loss; neither can train",
          "[metrics][fixture][model]") {
    const auto ckpt = testing::require_shared("fixtures/mindspore/ckpt/xmu_ai_isp__checkpoint_lenet-1_1875.ckpt");
    const auto mnist = testing::require_shared("data/mnist");
    LeNet5<> net;
    load_param_into_net(net, ckpt);
    auto test = testing::mnist_eval_set(mnist, 1000);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model full(net, loss, opt, {"accuracy", "loss", "F1"});
    const EvalResult want = full.eval(test);

    Model bare(net);  // MindSpore's Model(net): predict only, and accuracy as a Model without metrics gives it
    static_assert(std::same_as<decltype(bare), Model<LeNet5<>>>);
    static_assert(!CanTrain<decltype(bare), decltype(test)> && !CanResume<decltype(bare)>);
    const EvalResult plain = bare.eval(test);
    CHECK(plain.accuracy == want.accuracy);
    CHECK(plain.samples == 10000);
    CHECK(printed(plain) == "{'accuracy': " + detail::python_float_repr(want.accuracy) + "}");

    Model labelled(net, {"accuracy", "F1"});  // metrics={'accuracy', 'F1'} without a loss
    const EvalResult r = labelled.eval(test);
    CHECK(r.metrics.at("accuracy").scalar() == want.metrics.at("accuracy").scalar());
    CHECK(r.metrics.at("F1").per_class() == want.metrics.at("F1").per_class());
    CHECK(r.metrics.find("loss") == nullptr);

    Model with_loss(net, loss, {"accuracy", "loss"});  // Model(net, loss_fn, metrics): eval only
    static_assert(!CanTrain<decltype(with_loss), decltype(test)>);
    const EvalResult l = with_loss.eval(test);
    CHECK(l.metrics.at("loss").scalar() == want.metrics.at("loss").scalar());
    CHECK(l.loss == want.loss);

    // the logits Model(net) predicts are the network's own
    test.reset(0);
    Batch batch;
    REQUIRE(test.next(batch));
    Tensor direct;
    net.set_train(false);
    net.forward(batch.images, direct);
    CHECK(bare.predict(batch.images) == direct);

    // a loss metric needs a loss function: said at construction, not at eval
    try {
        Model wrong(net, {"accuracy", "loss"});
        FAIL("a Model without a loss function took the 'loss' metric");
    } catch (const ConfigError& e) {
        CHECK_THAT(e.what(), Catch::Contains("'loss'") && Catch::Contains("Model(net, loss_fn, metrics)"));
    }
}
