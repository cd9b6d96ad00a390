// Model as MindSpore's mindspore.Model: binds a network, a loss and an optimizer, then train / eval /
// predict. The training step reuses its buffers: after the first step it allocates nothing.
#pragma once

#include <cstddef>
#include <utility>

#include "mindsave/core/concepts.hpp"
#include "mindsave/train/callbacks.hpp"

namespace mindsave {

struct EvalResult {
    double accuracy = 0.0;  // fraction of samples whose argmax logit is the label
    double loss = 0.0;      // mean of the per-batch losses, as MindSpore's Loss metric
    std::size_t samples = 0;
};

template <Layer Net, Loss LossFn, Optimizer Opt>
class Model {
public:
    using Context = RunContext<Net, Opt>;

    Model(Net& network, LossFn& loss_fn, Opt& optimizer) : net_(network), loss_(loss_fn), opt_(optimizer) {}

    // One optimisation step on a batch; returns its loss.
    float train_step(const Batch& batch) {
        net_.forward(batch.images, logits_);
        const float loss = loss_.forward(logits_, batch.labels);
        loss_.backward(logits_, batch.labels, dlogits_);
        net_.backward(batch.images, logits_, dlogits_, nullptr);
        opt_.step();
        return loss;
    }

    // Trains for `epoch` epochs over dataset, calling each callback's hooks (see CallbackFor).
    template <Dataset D, class... Callbacks>
        requires(CallbackFor<std::remove_cvref_t<Callbacks>, RunContext<Net, Opt>> && ...)
    void train(std::size_t epoch, D& dataset, Callbacks&&... callbacks) {
        Context ctx{net_, opt_};
        ctx.epoch_num = epoch;
        ctx.batch_num = dataset.get_dataset_size();
        auto call = [&](auto hook) { (hook(callbacks), ...); };
        net_.set_train(true);
        call([&](auto& cb) { if constexpr (requires { cb.on_train_begin(ctx); }) cb.on_train_begin(ctx); });
        for (std::size_t e = 1; e <= epoch && !ctx.stop_requested; ++e) {
            ctx.cur_epoch_num = e;
            dataset.reset(e - 1);
            call([&](auto& cb) { if constexpr (requires { cb.on_train_epoch_begin(ctx); }) cb.on_train_epoch_begin(ctx); });
            while (!ctx.stop_requested && dataset.next(batch_)) {
                ++ctx.cur_step_num;
                call([&](auto& cb) { if constexpr (requires { cb.on_train_step_begin(ctx); }) cb.on_train_step_begin(ctx); });
                ctx.net_outputs = train_step(batch_);
                call([&](auto& cb) { if constexpr (requires { cb.on_train_step_end(ctx); }) cb.on_train_step_end(ctx); });
            }
            call([&](auto& cb) { if constexpr (requires { cb.on_train_epoch_end(ctx); }) cb.on_train_epoch_end(ctx); });
        }
        call([&](auto& cb) { if constexpr (requires { cb.on_train_end(ctx); }) cb.on_train_end(ctx); });
    }

    // Accuracy and mean loss over one pass of dataset, in inference mode.
    template <Dataset D>
    EvalResult eval(D& dataset) {
        EvalResult r;
        net_.set_train(false);
        dataset.reset(0);
        std::size_t correct = 0, batches = 0;
        double loss_sum = 0.0;
        while (dataset.next(batch_)) {
            net_.forward(batch_.images, logits_);
            loss_sum += loss_.forward(logits_, batch_.labels);
            ++batches;
            const std::size_t N = logits_.shape()[0], C = logits_.shape()[1];
            for (std::size_t n = 0; n < N; ++n) {
                const float* z = logits_.data() + n * C;
                const auto best = static_cast<std::int32_t>(std::max_element(z, z + C) - z);
                correct += best == batch_.labels(n);
            }
            r.samples += N;
        }
        net_.set_train(true);
        r.accuracy = r.samples ? static_cast<double>(correct) / static_cast<double>(r.samples) : 0.0;
        r.loss = batches ? loss_sum / static_cast<double>(batches) : 0.0;
        return r;
    }

    // Logits of a batch of images, in inference mode; valid until the next call on this Model.
    const Tensor& predict(const Tensor& images) {
        net_.set_train(false);
        net_.forward(images, logits_);
        net_.set_train(true);
        return logits_;
    }

    Net& network() noexcept { return net_; }
    Opt& optimizer() noexcept { return opt_; }

private:
    Net& net_;
    LossFn& loss_;
    Opt& opt_;
    Batch batch_;
    Tensor logits_, dlogits_;
};

}  // namespace mindsave
