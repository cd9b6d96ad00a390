// train/mindvision.hpp: mindvision's LossMonitor prints seed 000's two lines character for character
// (numbers aside), with the losses, means and learning rates the run really had.
#include <cmath>
#include <cstdio>
#include <limits>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/mindsave.hpp"

using namespace mindsave;

namespace {

// Batches of one 4-feature sample, so an epoch of 1875 steps (seed 000's) takes milliseconds.
struct TinyData {
    std::size_t batches;
    float poison = 0.0f;  // added to every feature of the last batch: NaN makes its loss NaN
    std::size_t pos = 0;
    std::size_t get_dataset_size() const { return batches; }
    void reset(std::size_t) { pos = 0; }
    bool next(Batch& b) {
        if (pos == batches) return false;
        b.images = Tensor::from_shape({1, 4});
        for (std::size_t i = 0; i < 4; ++i) b.images(0, i) = std::sin(static_cast<float>(pos * 4 + i));
        if (pos + 1 == batches) b.images += poison;
        b.labels = Labels::from_shape({1});
        b.labels(0) = static_cast<std::int32_t>(pos % 2);
        ++pos;
        return true;
    }
};
using TinyNet = Sequential<Named<"fc", Dense<4, 2>>>;

// Each step's loss, per epoch, as the run saw it.
struct LossLog {
    std::vector<std::vector<double>> epochs;
    template <class Ctx> void on_train_epoch_begin(Ctx&) { epochs.emplace_back(); }
    template <class Ctx> void on_train_step_end(Ctx& c) { epochs.back().push_back(c.net_outputs); }
};
struct StopAfter {
    std::size_t steps;
    template <class Ctx> void on_train_step_end(Ctx& c) { if (c.cur_step_num == steps) c.request_stop(); }
};

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}
// The line with every number replaced by '#': the format, numbers aside.
std::string shape_of(const std::string& line) { return std::regex_replace(line, std::regex("[0-9]+(\\.[0-9]+)?"), "#"); }
double number_at(const std::string& line, const std::string& after) {
    const auto at = line.find(after);
    REQUIRE(at != std::string::npos);
    return std::stod(line.substr(at + after.size()));
}
std::string fixed3(double v) {
    char s[64];
    std::snprintf(s, sizeof s, "%.3f", v);
    return s;
}
double mean(const std::vector<double>& v, std::size_t n) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += v[i];
    return s / static_cast<double>(n);
}

}  // namespace

TEST_CASE("mindvision's LossMonitor(0.01, 1875) prints seed 000's step and epoch lines", "[mindvision][model]") {
    TinyNet net(7);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    TinyData data{1875};
    std::ostringstream out;
    LossLog log;
    model.train(10, data, mindvision::LossMonitor(0.01, 1875, out), log, StopAfter{2 * 1875});

    const auto lines = lines_of(out.str());
    REQUIRE(lines.size() == 4);
    // the seed's own lines, numbers masked, against ours
    CHECK(shape_of(lines[0]) ==
          shape_of("Epoch:[  0/ 10], step:[ 1875/ 1875], loss:[0.148/1.210], time:2.021 ms, lr:0.01000"));
    CHECK(shape_of(lines[1]) == shape_of("Epoch time: 4251.808 ms, per step time: 2.268 ms, avg loss: 1.210"));
    CHECK(lines[0].starts_with("Epoch:[  0/ 10], step:[ 1875/ 1875], loss:["));
    CHECK(lines[2].starts_with("Epoch:[  1/ 10], step:[ 1875/ 1875], loss:["));
    CHECK(shape_of(lines[3]) == shape_of(lines[1]));
    for (std::size_t e = 0; e < 2; ++e) {
        INFO("epoch " << e);
        const auto& losses = log.epochs.at(e);
        REQUIRE(losses.size() == 1875);
        // the step's loss and the epoch's mean so far; lr as given
        CHECK(lines[2 * e].find("loss:[" + fixed3(losses.back()) + "/" + fixed3(mean(losses, 1875)) + "]") !=
              std::string::npos);
        CHECK(lines[2 * e].ends_with(" ms, lr:0.01000"));
        CHECK(lines[2 * e + 1].ends_with("avg loss: " + fixed3(mean(losses, 1875))));
        // per step time is the epoch's time over its 1875 steps, both as printed (3 decimals)
        const double epoch_ms = number_at(lines[2 * e + 1], "Epoch time: ");
        CHECK(number_at(lines[2 * e + 1], "per step time: ") == Approx(epoch_ms / 1875).margin(0.0015));
        // a step's own time is part of its epoch's
        CHECK(number_at(lines[2 * e], "time:") <= epoch_ms + 0.001);
    }
}

TEST_CASE("mindvision's LossMonitor counts print steps across epochs and takes a per-step learning-rate list",
          "[mindvision][model]") {
    TinyNet net(3);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    TinyData data{300};
    std::vector<double> lr(600);
    for (std::size_t i = 0; i < lr.size(); ++i) lr[i] = 0.01 * std::pow(0.99, static_cast<double>(i));
    std::ostringstream out;
    LossLog log;
    model.train(2, data, mindvision::LossMonitor(lr, 250, out), log);
    const auto lines = lines_of(out.str());
    // steps 250 and 500 (epoch 1's 200th: the count runs on across epochs, as mindvision's does)
    REQUIRE(lines.size() == 4);
    CHECK(lines[0].starts_with("Epoch:[  0/  2], step:[  250/  300], loss:[" + fixed3(log.epochs[0][249]) + "/" +
                               fixed3(mean(log.epochs[0], 250)) + "], time:"));
    CHECK(lines[1].starts_with("Epoch time: "));
    CHECK(lines[2].starts_with("Epoch:[  1/  2], step:[  200/  300], loss:[" + fixed3(log.epochs[1][199]) + "/" +
                               fixed3(mean(log.epochs[1], 200)) + "], time:"));
    char want[32];
    std::snprintf(want, sizeof want, "lr:%.5f", lr[499]);
    CHECK(lines[2].ends_with(want));
    CHECK(lines[3].ends_with("avg loss: " + fixed3(mean(log.epochs[1], 300))));

    // a schedule shorter than the run is an error naming the step, not a read past its end
    TinyData more{300};
    std::ostringstream sink;
    CHECK_THROWS_AS(model.train(3, more, mindvision::LossMonitor(lr, 1, sink)), ConfigError);
}

TEST_CASE("mindvision's LossMonitor stops training on a NaN loss", "[mindvision][model]") {
    TinyNet net(5);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    TinyData data{10, std::numeric_limits<float>::quiet_NaN()};
    std::ostringstream out;
    CHECK_THROWS_AS(model.train(1, data, mindvision::LossMonitor(0.01, 1, out)), NonFiniteLossError);
    CHECK(lines_of(out.str()).size() == 9);  // the nine finite steps were printed
}
