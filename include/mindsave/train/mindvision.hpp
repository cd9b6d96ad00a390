// mindvision's training callbacks (mindvision.engine.callback), which the seeds' tutorials use beside
// MindSpore's own: its LossMonitor prints step and epoch lines in a format of its own.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/train/callbacks.hpp"

namespace mindsave::mindvision {

// mindvision.engine.callback.LossMonitor(lr_init, per_print_times), as seed 000 uses it:
//   Epoch:[  0/ 10], step:[ 1875/ 1875], loss:[0.148/1.210], time:2.021 ms, lr:0.01000
//   Epoch time: 4251.808 ms, per step time: 2.268 ms, avg loss: 1.210
// The epoch counts from 0, the second loss is the mean over the epoch so far, time is the step's own
// (forward, backward and update), and lr is lr_init, or lr_init[step - 1] for a per-step schedule.
// The epoch line divides by the epoch's step count, as mindvision does. A NaN or infinite loss stops
// training with NonFiniteLossError, as MindSpore's LossMonitor does (mindvision's check only fires on
// Python floats, so there it would print nan and go on).
class LossMonitor {
public:
    explicit LossMonitor(double lr_init, std::size_t per_print_times = 1, std::ostream& out = std::cout)
        : lr_{lr_init}, per_print_times_(per_print_times), out_(&out) {}
    explicit LossMonitor(std::vector<double> lr_schedule, std::size_t per_print_times = 1, std::ostream& out = std::cout)
        : lr_(std::move(lr_schedule)), schedule_(true), per_print_times_(per_print_times), out_(&out) {}

    template <class Ctx>
    void on_train_epoch_begin(Ctx&) {
        loss_sum_ = 0.0;
        losses_ = 0;
        epoch_start_ = std::chrono::steady_clock::now();
    }
    template <class Ctx>
    void on_train_step_begin(Ctx&) { step_start_ = std::chrono::steady_clock::now(); }

    template <class Ctx>
    void on_train_step_end(Ctx& ctx) {
        const double step_ms = since(step_start_);
        detail::throw_if_loss_not_finite(ctx);
        const double loss = ctx.net_outputs;
        loss_sum_ += loss;
        ++losses_;
        if (ctx.cur_step_num < last_print_step_ + per_print_times_) return;  // a later train() starts lower
        last_print_step_ = ctx.cur_step_num;
        double lr = lr_.empty() ? 0.0 : lr_.front();
        if (schedule_) {
            if (ctx.cur_step_num == 0 || ctx.cur_step_num > lr_.size())
                throw ConfigError("mindvision::LossMonitor: the learning-rate schedule has " +
                                  std::to_string(lr_.size()) + " entries, step " + std::to_string(ctx.cur_step_num) +
                                  " has none; give one rate per step of the run");
            lr = lr_[ctx.cur_step_num - 1];
        }
        char line[256];
        std::snprintf(line, sizeof line, "Epoch:[%3zu/%3zu], step:[%5zu/%5zu], loss:[%5.3f/%5.3f], time:%5.3f ms, lr:%5.5f",
                      ctx.cur_epoch_num - 1, ctx.epoch_num, ctx.step_in_epoch(), ctx.batch_num, loss, mean(),
                      step_ms, lr);
        *out_ << line << '\n' << std::flush;
    }

    template <class Ctx>
    void on_train_epoch_end(Ctx& ctx) {
        const double epoch_ms = since(epoch_start_);
        const double per_step = ctx.batch_num ? epoch_ms / static_cast<double>(ctx.batch_num)
                                              : std::numeric_limits<double>::quiet_NaN();
        char line[256];
        std::snprintf(line, sizeof line, "Epoch time: %5.3f ms, per step time: %5.3f ms, avg loss: %5.3f", epoch_ms,
                      per_step, mean());
        *out_ << line << '\n' << std::flush;
    }

private:
    static double since(std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
    }
    // np.mean of no losses is nan, as an epoch resumed at its end would print
    double mean() const noexcept {
        return losses_ ? loss_sum_ / static_cast<double>(losses_) : std::numeric_limits<double>::quiet_NaN();
    }

    std::vector<double> lr_;
    bool schedule_ = false;
    std::size_t per_print_times_;
    std::size_t last_print_step_ = 0;
    std::ostream* out_;
    double loss_sum_ = 0.0;
    std::size_t losses_ = 0;
    std::chrono::steady_clock::time_point epoch_start_{}, step_start_{};
};

}  // namespace mindsave::mindvision
