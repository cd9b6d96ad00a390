// Training callbacks: the hooks Model calls, the context they see, and MindSpore's LossMonitor and
// TimeMonitor, plus a progress bar (redrawn on a terminal, plain lines otherwise).
#pragma once

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include <unistd.h>

#include "mindsave/core/communicator.hpp"
#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/python_repr.hpp"

namespace mindsave {

// What a callback sees of the run, as MindSpore's cb_params; steps count from 1.
template <class Net, class Opt>
struct RunContext {
    Net& network;
    Opt& optimizer;
    std::size_t epoch_num = 0;      // epochs of the whole run
    std::size_t cur_epoch_num = 0;  // current epoch, from 1
    std::size_t batch_num = 0;      // steps per epoch
    std::size_t cur_step_num = 0;   // steps since the start of the run, from 1
    float net_outputs = 0.0f;       // the loss of the last step
    const Batch* batch = nullptr;   // the batch of the current step
    std::string_view loss_name = "Loss";  // the loss cell's name, for graph files
    CommunicatorRef* group = nullptr;     // the data-parallel group (Model::set_data_parallel); none: one process
    bool stop_requested = false;

    std::size_t step_in_epoch() const noexcept { return batch_num ? (cur_step_num - 1) % batch_num + 1 : 0; }
    void request_stop() noexcept { stop_requested = true; }
};

// A callback implements any of the hooks on_train_begin, on_train_epoch_begin, on_train_step_begin,
// on_train_step_end, on_train_epoch_end, on_train_end, on_train_exception, each taking the RunContext.
template <class C, class Ctx>
concept CallbackFor = requires(C& c, Ctx& ctx) { c.on_train_begin(ctx); } ||
                      requires(C& c, Ctx& ctx) { c.on_train_epoch_begin(ctx); } ||
                      requires(C& c, Ctx& ctx) { c.on_train_step_begin(ctx); } ||
                      requires(C& c, Ctx& ctx) { c.on_train_step_end(ctx); } ||
                      requires(C& c, Ctx& ctx) { c.on_train_epoch_end(ctx); } ||
                      requires(C& c, Ctx& ctx) { c.on_train_end(ctx); } ||
                      requires(C& c, Ctx& ctx) { c.on_train_exception(ctx); };


namespace detail {
// A loss monitor's stop on a NaN or infinite loss, MindSpore's message plus what to do about it.
template <class Ctx>
void throw_if_loss_not_finite(const Ctx& ctx) {
    const double loss = ctx.net_outputs;
    if (std::isnan(loss) || std::isinf(loss))
        throw NonFiniteLossError("epoch: " + std::to_string(ctx.cur_epoch_num) + " step: " +
                                 std::to_string(ctx.step_in_epoch()) +
                                 ". Invalid loss, terminating training. (lower the learning rate, or check "
                                 "the data for NaN and the labels for range)");
}
}  // namespace detail

// Prints "epoch: 1 step: 1875, loss is 0.23393124341964722" every per_print_times steps, as MindSpore
// does, and stops training on a NaN or infinite loss.
class LossMonitor {
public:
    explicit LossMonitor(std::size_t per_print_times = 1, std::ostream& out = std::cout)
        : per_print_times_(per_print_times), out_(&out) {}

    template <class Ctx>
    void on_train_step_end(Ctx& ctx) {
        detail::throw_if_loss_not_finite(ctx);
        const double loss = ctx.net_outputs;
        if (per_print_times_ != 0 && ctx.cur_step_num - last_print_step_ >= per_print_times_) {
            last_print_step_ = ctx.cur_step_num;
            if (get_rank() != 0) return;  // a data-parallel group prints once, from rank 0
            *out_ << "epoch: " << ctx.cur_epoch_num << " step: " << ctx.step_in_epoch() << ", loss is "
                  << detail::python_float_repr(loss) << '\n' << std::flush;
        }
    }

private:
    std::size_t per_print_times_;
    std::size_t last_print_step_ = 0;
    std::ostream* out_;
};

// Prints "epoch time: 1523.224 ms, per step time: 0.812 ms" at the end of each epoch.
class TimeMonitor {
public:
    explicit TimeMonitor(std::ostream& out = std::cout) : out_(&out) {}

    template <class Ctx>
    void on_train_epoch_begin(Ctx& ctx) {
        start_ = std::chrono::steady_clock::now();
        first_step_ = ctx.cur_step_num;
    }
    template <class Ctx>
    void on_train_epoch_end(Ctx& ctx) {
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
        const std::size_t steps = ctx.cur_step_num - first_step_;
        if (get_rank() != 0) return;  // a data-parallel group prints once, from rank 0
        char line[128];
        std::snprintf(line, sizeof line, "epoch time: %.3f ms, per step time: %.3f ms", ms,
                      steps ? ms / static_cast<double>(steps) : 0.0);
        *out_ << line << '\n' << std::flush;
    }

private:
    std::chrono::steady_clock::time_point start_{};
    std::size_t first_step_ = 0;
    std::ostream* out_;
};

// A bar redrawn in place on a terminal; when the stream is not a terminal, a plain line every 10%.
class ProgressBar {
public:
    explicit ProgressBar(std::FILE* out = stderr) : out_(out), tty_(::isatty(::fileno(out)) != 0) {}

    template <class Ctx>
    void on_train_epoch_begin(Ctx&) { last_mark_ = 0; }

    template <class Ctx>
    void on_train_step_end(Ctx& ctx) {
        const std::size_t done = ctx.step_in_epoch(), total = ctx.batch_num;
        if (total == 0 || get_rank() != 0) return;  // a data-parallel group draws one bar, rank 0's
        // a mark is a percent on a terminal, a tenth of the epoch otherwise
        const std::size_t mark = done * (tty_ ? 100 : 10) / total;
        if (mark == last_mark_ && done != total) return;
        last_mark_ = mark;
        const double loss = ctx.net_outputs;
        if (tty_) {
            constexpr std::size_t width = 40;
            const std::size_t filled = done * width / total;
            std::fprintf(out_, "\repoch %zu/%zu [%s%s] %3zu%% %zu/%zu loss %.4f%s", ctx.cur_epoch_num, ctx.epoch_num,
                         std::string(filled, '=').c_str(), std::string(width - filled, ' ').c_str(), mark, done,
                         total, loss, done == total ? "\n" : "");
        } else {
            std::fprintf(out_, "epoch %zu/%zu: %zu%% (%zu/%zu steps), loss %.4f\n", ctx.cur_epoch_num,
                         ctx.epoch_num, done * 100 / total, done, total, loss);
        }
        std::fflush(out_);
    }

private:
    std::FILE* out_;
    bool tty_;
    std::size_t last_mark_ = 0;
};

}  // namespace mindsave
