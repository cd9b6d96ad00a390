// train/on_request_exit.hpp and ModelCheckpoint's exception_save_signals, in one process: the signal is
// raised from inside a step, so the step it comes in is known exactly. (tests/crash/test_request_exit
// sends SIGTERM from outside, at random moments.)
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "mindsave/mindsave.hpp"
#include "support/same_parameters.hpp"
#include "support/temp_dir.hpp"

using namespace mindsave;
namespace fs = std::filesystem;

namespace {

// Random LeNet5-sized batches in memory.
struct RandomImages {
    std::size_t batches;
    std::size_t pos = 0;
    std::size_t get_dataset_size() const { return batches; }
    void reset(std::size_t) { pos = 0; }
    bool next(Batch& b) {
        if (pos == batches) return false;
        Generator g(pos + 1);
        b.images = Tensor::from_shape({4, 1, 32, 32});
        for (auto& v : b.images) v = static_cast<float>(g.uniform(-1.0, 1.0));
        b.labels = Labels::from_shape({4});
        for (auto& l : b.labels) l = static_cast<std::int32_t>(g.below(10));
        ++pos;
        return true;
    }
};

// Raises sig at the start of step `at`: it arrives while that step runs.
struct RaiseAt {
    std::size_t at;
    int sig;
    template <class Ctx> void on_train_step_begin(Ctx& c) { if (c.cur_step_num == at) ::raise(sig); }
};
struct CountSteps {
    std::size_t last = 0;
    template <class Ctx> void on_train_step_end(Ctx& c) { last = c.cur_step_num; }
};

std::atomic<int> previous_handler_calls{0};
void previous_handler(int) { previous_handler_calls.fetch_add(1); }

// Installs previous_handler for sig for the test's length, then puts back what was there (Catch's own).
struct PreviousHandler {
    int sig;
    struct sigaction before {};
    explicit PreviousHandler(int s) : sig(s) {
        struct sigaction a {};
        a.sa_handler = &previous_handler;
        ::sigemptyset(&a.sa_mask);
        ::sigaction(sig, &a, &before);
    }
    ~PreviousHandler() { ::sigaction(sig, &before, nullptr); }
    bool in_place() const {
        struct sigaction now {};
        ::sigaction(sig, nullptr, &now);
        return now.sa_handler == &previous_handler;
    }
};

// LeNet5 with the tutorial's loss and Momentum, as a Model; stays where it is built (Momentum points into net).
struct LeNetRun {
    LeNet5<> net{1};
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt{net, 0.01f, 0.9f};
    Model<LeNet5<>, SoftmaxCrossEntropyWithLogits<>, Momentum> model{net, loss, opt};
};

}  // namespace

TEST_CASE("OnRequestExit stops training after the step SIGTERM came in, saves {file_name}_train.ckpt and .mindir, "
          "and restores the previous handler",
          "[on_request_exit][model]") {
    testing::TempDir dir("on_request_exit");
    PreviousHandler before(SIGTERM);
    LeNetRun run;
    auto& [net, loss, opt, model] = run;
    RandomImages data{5};
    OnRequestExit on_exit(true, true, "LeNet5", dir.path);
    CountSteps steps;
    model.train(10, data, RaiseAt{7, SIGTERM}, on_exit, steps);

    CHECK(steps.last == 7);  // stopped at the end of the step the signal came in
    CHECK(on_exit.requested());
    CHECK(on_exit.exit_status() == 128 + SIGTERM);
    CHECK(before.in_place());
    CHECK(previous_handler_calls.load() == 0);  // OnRequestExit's handler took it, not the previous one
    CHECK(on_exit.checkpoint_path() == fs::absolute(dir.path) / "LeNet5_train.ckpt");
    REQUIRE(fs::is_regular_file(dir.path / "LeNet5_train.ckpt"));
    REQUIRE(fs::is_regular_file(dir.path / "LeNet5_train.mindir"));

    // the checkpoint is the train network at step 7: parameters, moments and global_step
    LeNet5<> again(99);
    Momentum again_opt(again, 0.01f, 0.9f);
    auto train = train_network(again, again_opt);
    load_param_into_net<match::strict>(train, load_checkpoint(dir.path / "LeNet5_train.ckpt"), {.require_all = true});
    CHECK(again_opt.global_step() == 7);
    auto ours = train_network(net, opt);
    testing::check_same_parameters(ours, train);
    LeNet5<> from_mindir(98);
    load_param_into_net<match::strict>(from_mindir, load_checkpoint(dir.path / "LeNet5_train.mindir"), {.require_all = true});
    testing::check_same_parameters(net, from_mindir);

    // without a signal nothing is saved, and a later run's signal is seen afresh
    RandomImages more{3};
    OnRequestExit quiet(true, false, "Quiet", dir.path);
    model.train(1, more, quiet);
    CHECK(!quiet.requested());
    CHECK(!fs::exists(dir.path / "Quiet_train.ckpt"));
    CHECK(before.in_place());
}

TEST_CASE("OnRequestExit loads an existing {file_name}_train.ckpt into the network and optimizer when training "
          "begins, as MindSpore's does",
          "[on_request_exit][model]") {
    testing::TempDir dir("on_request_exit_load");
    SoftmaxCrossEntropyWithLogits<> loss;
    LeNet5<> first(1);
    Momentum first_opt(first, 0.01f, 0.9f);
    Model model(first, loss, first_opt);
    RandomImages data{4};
    {
        OnRequestExit on_exit(true, false, "Net", dir.path);
        model.train(3, data, RaiseAt{6, SIGTERM}, on_exit);
        REQUIRE(on_exit.requested());
    }
    LeNet5<> second(2);
    Momentum second_opt(second, 0.01f, 0.9f);
    Model resumed(second, loss, second_opt);
    struct CheckAtBegin {
        LeNet5<>& saved;
        Momentum& saved_opt;
        bool checked = false;
        void on_train_begin(RunContext<LeNet5<>, Momentum>& ctx) {
            auto a = train_network(ctx.network, ctx.optimizer);
            auto b = train_network(saved, saved_opt);
            testing::check_same_parameters(a, b);
            checked = true;
        }
    } check{first, first_opt};
    OnRequestExit on_exit(true, false, "Net", dir.path);
    resumed.train(1, data, on_exit, check);  // OnRequestExit's on_train_begin runs first
    CHECK(check.checked);
    CHECK(!on_exit.requested());
}

TEST_CASE("OnRequestExit refuses what it cannot do before training starts", "[on_request_exit][model]") {
    testing::TempDir dir("on_request_exit_bad");
    CHECK_THROWS_AS(OnRequestExit(true, true, "Net", dir.path, SIGKILL), ConfigError);
    CHECK_THROWS_AS(OnRequestExit(true, true, "Net", dir.path, SIGSTOP), ConfigError);
    CHECK_THROWS_AS(OnRequestExit(true, true, "a/b", dir.path), ConfigError);
    CHECK_THROWS_WITH(OnRequestExit(true, true, "Net", dir.path, SIGKILL),
                      Catch::Contains("SIGKILL") && Catch::Contains("SIGTERM"));
    CHECK_THROWS_AS((CheckpointConfig{.exception_save = true, .exception_save_signals = {SIGSTOP}}.policy()), ConfigError);
}

TEST_CASE("OnRequestExit and ModelCheckpoint watching the same signal share one handler: the first to see it "
          "acts, the other never redelivers it, and the handler from before returns",
          "[on_request_exit][model_checkpoint]") {
    testing::TempDir dir("on_request_exit_both");
    PreviousHandler before(SIGTERM);
    LeNetRun run;
    auto& [net, loss, opt, model] = run;
    RandomImages data{4};
    OnRequestExit on_exit(true, false, "Net", dir.path);
    ModelCheckpoint<> ckpt("CKP", dir.path,
                           {.save_checkpoint_steps = 100, .exception_save = true, .exception_save_signals = {SIGTERM}});
    // ModelCheckpoint comes first: it turns the signal into TrainingInterrupted
    CHECK_THROWS_AS(model.train(3, data, RaiseAt{2, SIGTERM}, ckpt, on_exit), TrainingInterrupted);
    CHECK(before.in_place());
    CHECK(fs::is_regular_file(dir.path / "CKP-1_2_breakpoint.ckpt"));
    // OnRequestExit first: it stops training and saves; ModelCheckpoint saves its last step as usual
    OnRequestExit second(true, false, "Second", dir.path);
    ModelCheckpoint<> ckpt2("CKQ", dir.path,
                            {.save_checkpoint_steps = 100, .exception_save = true, .exception_save_signals = {SIGTERM}});
    CountSteps steps;
    model.train(3, data, RaiseAt{2, SIGTERM}, second, steps, ckpt2);
    CHECK(steps.last == 2);
    CHECK(second.requested());
    CHECK(fs::is_regular_file(dir.path / "Second_train.ckpt"));
    CHECK(before.in_place());
    CHECK(previous_handler_calls.load() == 0);
}

TEST_CASE("ModelCheckpoint with exception_save_signals turns SIGINT into a _breakpoint checkpoint and "
          "TrainingInterrupted at the step boundary",
          "[on_request_exit][model_checkpoint]") {
    testing::TempDir dir("exception_save_signals");
    PreviousHandler before(SIGINT);
    LeNetRun run;
    auto& [net, loss, opt, model] = run;
    RandomImages data{4};
    ModelCheckpoint<> ckpt("CKP", dir.path,
                           {.save_checkpoint_steps = 100, .exception_save = true, .exception_save_signals = {SIGTERM, SIGINT}});
    CountSteps steps;
    try {
        model.train(5, data, steps, RaiseAt{6, SIGINT}, ckpt);
        FAIL("training went on after SIGINT");
    } catch (const TrainingInterrupted& e) {
        CHECK(e.signal() == SIGINT);
        CHECK_THAT(e.what(), Catch::Contains("SIGINT") && Catch::Contains("epoch 2 step 2"));
    }
    CHECK(steps.last == 6);
    CHECK(before.in_place());
    const auto breakpoint = dir.path / "CKP-2_2_breakpoint.ckpt";
    REQUIRE(fs::is_regular_file(breakpoint));
    LeNet5<> again(5);
    Momentum again_opt(again, 0.01f, 0.9f);
    auto train = train_network(again, again_opt);
    load_param_into_net<match::strict>(train, load_checkpoint(breakpoint));
    CHECK(again_opt.global_step() == 6);
    testing::check_same_parameters(net, again);

    CHECK_THROWS_AS((ModelCheckpoint<>("CKP", dir.path, {.exception_save_signals = {SIGTERM}})), ConfigError);
}
