// train/: Model's training loop and callbacks, no allocation in the step, and LeNet5 trained on
// real Fashion-MNIST reaching the accuracy PyTorch reaches with the same recipe.
#include <atomic>
#include <cstdlib>
#include <new>
#include <sstream>

#include <catch2/catch.hpp>

#include "mindsave/data/mnist.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/mindsave.hpp"
#include "support/allocation_counter.hpp"
#include "support/shared_data.hpp"

using namespace mindsave;
namespace vision = mindsave::data::vision;

namespace {

// MindSpore's quick-start preprocessing: Resize 32x32, Rescale(1/255), normalise, HWC2CHW.
template <class Source>
auto quickstart(const Source& source) {
    return source.map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0},
                      vision::Rescale{1.0 / 0.3081, -1.0 * 0.1307 / 0.3081}, vision::HWC2CHW{});
}

// Records the hooks Model calls and what the context said at each.
struct Recorder {
    std::vector<std::string> events;
    template <class Ctx> void on_train_begin(Ctx&) { events.push_back("begin"); }
    template <class Ctx> void on_train_epoch_begin(Ctx& c) { events.push_back("epoch_begin " + std::to_string(c.cur_epoch_num)); }
    template <class Ctx> void on_train_step_begin(Ctx& c) { events.push_back("step_begin " + std::to_string(c.cur_step_num)); }
    template <class Ctx> void on_train_step_end(Ctx& c) {
        events.push_back("step_end " + std::to_string(c.cur_step_num) + "/" + std::to_string(c.step_in_epoch()));
    }
    template <class Ctx> void on_train_epoch_end(Ctx& c) { events.push_back("epoch_end " + std::to_string(c.cur_epoch_num)); }
    template <class Ctx> void on_train_end(Ctx&) { events.push_back("end"); }
};

// Evaluates on a held-out set at the end of each epoch.
template <class M, class D>
struct EvalEachEpoch {
    M& model;
    D& dataset;
    std::vector<EvalResult> results;
    template <class Ctx> void on_train_epoch_end(Ctx&) { results.push_back(model.eval(dataset)); }
};

struct StopAfter {
    std::size_t steps;
    template <class Ctx> void on_train_step_end(Ctx& c) { if (c.cur_step_num == steps) c.request_stop(); }
};

}  // namespace

TEST_CASE("Model calls every callback hook in MindSpore's order with the run's counters", "[model]") {
    const auto dir = testing::require_shared("data/mnist");
    auto ds = quickstart(data::MnistDataset(dir, "test")).take(6).batch(2, true);
    LeNet5<> net;
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    Recorder rec;
    model.train(2, ds, rec);
    const std::vector<std::string> expected{
        "begin", "epoch_begin 1", "step_begin 1", "step_end 1/1", "step_begin 2", "step_end 2/2", "step_begin 3",
        "step_end 3/3", "epoch_end 1", "epoch_begin 2", "step_begin 4", "step_end 4/1", "step_begin 5",
        "step_end 5/2", "step_begin 6", "step_end 6/3", "epoch_end 2", "end"};
    CHECK(rec.events == expected);
    CHECK(opt.global_step() == 6);

    StopAfter stop{4};
    model.train(3, ds, stop);
    CHECK(opt.global_step() == 10);  // stopped after its 4th step
}

TEST_CASE("LossMonitor prints MindSpore's line with Python's float repr and stops on a NaN loss", "[callbacks]") {
    LeNet5<> net;
    Momentum opt(net, 0.01f, 0.9f);
    RunContext<LeNet5<>, Momentum> ctx{net, opt};
    ctx.epoch_num = 2;
    ctx.batch_num = 1875;
    std::ostringstream out;
    LossMonitor every(1, out), sparse(1000, out);
    ctx.cur_epoch_num = 1;
    ctx.cur_step_num = 1875;
    ctx.net_outputs = 0.2339312434196472f;
    every.on_train_step_end(ctx);
    CHECK(out.str() == "epoch: 1 step: 1875, loss is 0.23393124341964722\n");  // repr(float(np.float32(x)))
    out.str("");
    ctx.cur_epoch_num = 2;
    ctx.cur_step_num = 1876;
    ctx.net_outputs = 2.0f;
    every.on_train_step_end(ctx);
    CHECK(out.str() == "epoch: 2 step: 1, loss is 2.0\n");
    out.str("");
    for (std::size_t s = 1; s <= 2500; ++s) {
        ctx.cur_step_num = s;
        sparse.on_train_step_end(ctx);
    }
    const std::string printed = out.str();
    CHECK(std::count(printed.begin(), printed.end(), '\n') == 2);  // steps 1000 and 2000
    ctx.net_outputs = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(every.on_train_step_end(ctx), NonFiniteLossError);
    ctx.net_outputs = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH(every.on_train_step_end(ctx), Catch::Contains("Invalid loss, terminating training"));
}

TEST_CASE("ProgressBar writes a plain line per tenth of an epoch when not on a terminal; TimeMonitor "
          "prints MindSpore's epoch line", "[callbacks]") {
    LeNet5<> net;
    Momentum opt(net, 0.01f, 0.9f);
    RunContext<LeNet5<>, Momentum> ctx{net, opt};
    ctx.epoch_num = 1;
    ctx.batch_num = 50;
    ctx.cur_epoch_num = 1;
    std::FILE* file = std::tmpfile();
    REQUIRE(file);
    ProgressBar bar(file);
    std::ostringstream times;
    TimeMonitor timer(times);
    bar.on_train_epoch_begin(ctx);
    timer.on_train_epoch_begin(ctx);
    for (std::size_t s = 1; s <= 50; ++s) {
        ctx.cur_step_num = s;
        ctx.net_outputs = 1.0f / static_cast<float>(s);
        bar.on_train_step_end(ctx);
    }
    timer.on_train_epoch_end(ctx);
    std::rewind(file);
    std::string text;
    for (int c; (c = std::fgetc(file)) != EOF;) text += static_cast<char>(c);
    std::fclose(file);
    CHECK(std::count(text.begin(), text.end(), '\n') == 10);
    CHECK(text.find('\r') == std::string::npos);
    CHECK_THAT(text, Catch::EndsWith("epoch 1/1: 100% (50/50 steps), loss 0.0200\n"));
    CHECK_THAT(times.str(), Catch::Matches("epoch time: [0-9]+\\.[0-9]{3} ms, per step time: [0-9]+\\.[0-9]{3} ms\n"));
}

TEST_CASE("after the first step, training (data pipeline included) allocates nothing", "[model][performance]") {
    const auto dir = testing::require_shared("data/mnist");
    auto ds = quickstart(data::MnistDataset(dir, "test")).shuffle(100, 1).take(32 * 6).batch(32, true);
    LeNet5<> net;
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    Batch batch;
    ds.reset(0);
    REQUIRE(ds.next(batch));
    model.train_step(batch);
    const std::size_t before = testing::allocation_count();
    std::size_t steps = 0;
    while (ds.next(batch)) {
        model.train_step(batch);
        ++steps;
    }
    CHECK(steps == 5);
    CHECK(testing::allocation_count() - before == 0);
}

TEST_CASE("Data parallel in a group of one trains bit for bit as without it, and its step allocates nothing",
          "[model][distributed]") {
    const auto dir = testing::require_shared("data/mnist");
    auto ds = quickstart(data::MnistDataset(dir, "test")).shard(1, 0, true, 3).take(32 * 6).batch(32, true);
    LeNet5<> a(5), b(5);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt_a(a, 0.01f, 0.9f), opt_b(b, 0.01f, 0.9f);
    Model plain(a, loss, opt_a), grouped(b, loss, opt_b);
    SingleProcess one;
    grouped.set_data_parallel(one, {.gradients_mean = true, .bucket_bytes = 1024});
    CHECK(get_rank() == 0);
    CHECK(get_group_size() == 1);
    Batch batch;
    ds.reset(0);
    REQUIRE(ds.next(batch));
    plain.train_step(batch);
    grouped.train_step(batch);
    const std::size_t before = testing::allocation_count();
    while (ds.next(batch)) {
        plain.train_step(batch);
        grouped.train_step(batch);
    }
    CHECK(testing::allocation_count() - before == 0);
    bool same = true;
    visit_parameters(a, [&](std::string_view name, auto& p) {
        visit_parameters(b, [&](std::string_view other, auto& q) {
            if constexpr (requires { p.value; q.value; })
                if (name == other) same = same && std::equal(p.value.begin(), p.value.end(), q.value.begin());
        });
    });
    CHECK(same);
    // The concept names what a communicator must offer.
    static_assert(Communicator<SingleProcess>);
    static_assert(!Communicator<int>);
    CHECK(allgather_strings(one, "solo") == std::vector<std::string>{"solo"});
}

// The recipe's accuracy varies with the seed and, through floating-point summation order, with the
// CPU's vector width. Measured (lenet_demo --seed 1..7): 0.816-0.848 after one epoch (mean 0.840),
// 0.852-0.876 after two (mean 0.867); PyTorch 1.13 with the same recipe, seeds 1-6
// (benchmarks/peers/lenet_torch_accuracy.py): 0.821-0.841 (mean 0.833) and 0.862-0.868 (mean 0.865).
// The bounds sit below both ranges, so the test holds on any machine, while a wrong gradient or
// update (accuracy far below 0.8) fails it.
TEST_CASE("LeNet5 trained on real Fashion-MNIST reaches PyTorch's accuracy: >= 0.80 after 1 epoch, >= 0.845 after 2",
          "[model][slow]") {
    const auto dir = testing::require_fashion_mnist();
    // MindSpore's recipe: the source sampled in random order (MnistDataset's default), then a 10000 buffer shuffle
    auto train = quickstart(data::MnistDataset(dir, "train", /*shuffle=*/true, 1)).shuffle(10000, 1).batch(32, true);
    auto test = quickstart(data::MnistDataset(dir, "test")).batch(32, false);
    REQUIRE(train.get_dataset_size() == 1875);

    LeNet5<> net(1);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, {.learning_rate = 0.01f, .momentum = 0.9f});
    Model model(net, loss, opt);

    EvalEachEpoch<decltype(model), decltype(test)> evaluator{model, test, {}};
    std::ostringstream log;
    model.train(2, train, evaluator, LossMonitor(1875, log));

    REQUIRE(evaluator.results.size() == 2);
    INFO("accuracy after epoch 1: " << evaluator.results[0].accuracy << ", epoch 2: " << evaluator.results[1].accuracy
                                    << "\n" << log.str());
    CHECK(evaluator.results[0].samples == 10000);
    CHECK(evaluator.results[0].accuracy >= 0.80);
    CHECK(evaluator.results[1].accuracy >= 0.845);
    CHECK(evaluator.results[1].loss < evaluator.results[0].loss);
    CHECK_THAT(log.str(), Catch::StartsWith("epoch: 1 step: 1875, loss is "));
}
