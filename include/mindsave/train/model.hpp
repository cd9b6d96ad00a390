// Model as MindSpore's mindspore.Model: binds a network, a loss, an optimizer and metrics, then train /
// eval / predict. The training step reuses its buffers: after the first step it allocates nothing.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <ostream>
#include <utility>

#include "mindsave/checkpoint/load_param.hpp"
#include "mindsave/checkpoint/train_network.hpp"
#include "mindsave/core/communicator.hpp"
#include "mindsave/core/concepts.hpp"
#include "mindsave/core/parameter_dict.hpp"
#include "mindsave/distributed/grad_reducer.hpp"
#include "mindsave/nn/inference.hpp"
#include "mindsave/train/callbacks.hpp"
#include "mindsave/train/metrics.hpp"

namespace mindsave {

struct EvalResult {
    double accuracy = 0.0;  // fraction of samples whose argmax logit is the label
    double loss = 0.0;      // mean of the per-batch losses, as MindSpore's Loss metric (0 without a loss function)
    std::size_t samples = 0;
    MetricResults metrics;  // the Model's metrics, in their order
    bool has_loss = true;   // false when the Model has no loss function

    // As MindSpore prints model.eval's dict: the Model's metrics ({'accuracy': 0.9868}), or accuracy and loss
    // (accuracy alone without a loss function) when it was given none.
    friend std::ostream& operator<<(std::ostream& os, const EvalResult& r) {
        if (!r.metrics.values.empty()) return os << r.metrics;
        if (!r.has_loss) return os << MetricResults{{{"accuracy", r.accuracy}}};
        return os << MetricResults{{{"accuracy", r.accuracy}, {"loss", r.loss}}};
    }
};

// The loss and optimizer of a Model built without them (Model(net) for predict and eval).
struct NoLoss {};
struct NoOptimizer {
    template <class F>
    void visit_parameters(F&&) {}
    void step() {}
};

// Model(net) predicts and evaluates label metrics; Model(net, loss, metrics) also evaluates the loss;
// Model(net, loss, optimizer, metrics) trains as well. A call the Model cannot serve does not compile.
template <Layer Net, class LossFn = NoLoss, class Opt = NoOptimizer>
    requires(std::same_as<LossFn, NoLoss> || Loss<LossFn>) && (std::same_as<Opt, NoOptimizer> || Optimizer<Opt>)
class Model {
    static constexpr bool has_loss = !std::same_as<LossFn, NoLoss>;
    static constexpr bool has_optimizer = !std::same_as<Opt, NoOptimizer>;

public:
    using Context = RunContext<Net, Opt>;

    explicit Model(Net& network, Metrics metrics = {}) requires(!has_loss && !has_optimizer)
        : net_(network), metrics_(std::move(metrics)) {
        for (const auto& m : metrics_)
            if (m.needs_loss())
                throw ConfigError("Model: metric '" + m.name() +
                                  "' needs the loss, and this Model has no loss function; build it as "
                                  "Model(net, loss_fn, metrics)");
    }
    Model(Net& network, LossFn& loss_fn, Metrics metrics = {}) requires(has_loss && !has_optimizer)
        : net_(network), loss_(&loss_fn), metrics_(std::move(metrics)) {}
    Model(Net& network, LossFn& loss_fn, Opt& optimizer, Metrics metrics = {}) requires(has_loss && has_optimizer)
        : net_(network), loss_(&loss_fn), opt_(&optimizer), metrics_(std::move(metrics)) {}

    // One optimisation step on a batch; returns its loss.
    float train_step(const Batch& batch) requires has_optimizer {
        net_.forward(batch.images, logits_);
        const float loss = loss_->forward(logits_, batch.labels);
        loss_->backward(logits_, batch.labels, dlogits_);
        net_.backward(batch.images, logits_, dlogits_, nullptr);
        if (reduce_) reduce_();  // data parallel: the group's mean gradient, before the optimizer
        opt_->step();
        return loss;
    }

    // Data parallel over comm, as MindSpore's set_auto_parallel_context(parallel_mode=DATA_PARALLEL,
    // gradients_mean=True) with init(): rank 0's parameters and statistics are broadcast now (unless
    // parameter_broadcast is off), and every step sums the gradients across the group in fused buckets
    // (averaged with gradients_mean) before the optimizer runs. Each rank feeds its own shard of the data
    // (a dataset's shard(get_group_size(), get_rank())). comm must outlive the Model's training.
    template <Communicator Comm>
    void set_data_parallel(Comm& comm, DataParallelOptions options = {}) requires has_optimizer {
        auto reducer = std::make_shared<GradReducer<Comm>>(comm, net_, options);
        if (options.parameter_broadcast) reducer->broadcast_parameters(0);
        set_group(comm);
        group_ = CommunicatorRef(comm);
        reduce_ = [r = reducer.get()] { r->reduce(); };
        average_statistics_ = [r = reducer.get()] { r->average_statistics(); };
        reducer_ = std::move(reducer);
    }
    // BatchNorm's moving statistics averaged over the data-parallel group (each rank keeps its own, as in
    // MindSpore, unless this is called: before a save, it makes every rank's file the same).
    void average_batchnorm_statistics() {
        if (average_statistics_) average_statistics_();
    }

    // Trains until epoch `epoch` over dataset, calling each callback's hooks (see CallbackFor). After
    // resume() (or set_initial_step) it continues from that step: the epochs and batches already done
    // are skipped; otherwise it starts at epoch 1, as MindSpore's model.train does on every call.
    // If a step or a callback throws, each callback's on_train_exception runs, then the error propagates.
    template <Dataset D, class... Callbacks>
        requires has_optimizer && (CallbackFor<std::remove_cvref_t<Callbacks>, RunContext<Net, Opt>> && ...)
    void train(std::size_t epoch, D& dataset, Callbacks&&... callbacks) {
        Context ctx{net_, *opt_};
        if constexpr (requires { LossFn::cell_name; }) ctx.loss_name = LossFn::cell_name;
        ctx.epoch_num = epoch;
        ctx.batch_num = dataset.get_dataset_size();
        if (group_) ctx.group = &group_;
        auto call = [&]([[maybe_unused]] auto hook) { (hook(callbacks), ...); };
        net_.set_train(true);
        const std::size_t start = initial_step_;
        ctx.cur_step_num = start;
        try {
            call([&](auto& cb) { if constexpr (requires { cb.on_train_begin(ctx); }) cb.on_train_begin(ctx); });
            const std::size_t first_epoch = ctx.batch_num ? start / ctx.batch_num + 1 : 1;
            for (std::size_t e = first_epoch; e <= epoch && !ctx.stop_requested; ++e) {
                ctx.cur_epoch_num = e;
                dataset.reset(e - 1);
                // resuming mid-epoch: the order of epoch e depends only on (seed, e), so skip what was done
                for (std::size_t done = (e - 1) * ctx.batch_num; done < start && dataset.next(batch_); ++done) {}
                call([&](auto& cb) { if constexpr (requires { cb.on_train_epoch_begin(ctx); }) cb.on_train_epoch_begin(ctx); });
                while (!ctx.stop_requested && dataset.next(batch_)) {
                    ++ctx.cur_step_num;
                    ctx.batch = &batch_;
                    call([&](auto& cb) { if constexpr (requires { cb.on_train_step_begin(ctx); }) cb.on_train_step_begin(ctx); });
                    ctx.net_outputs = train_step(batch_);
                    call([&](auto& cb) { if constexpr (requires { cb.on_train_step_end(ctx); }) cb.on_train_step_end(ctx); });
                }
                call([&](auto& cb) { if constexpr (requires { cb.on_train_epoch_end(ctx); }) cb.on_train_epoch_end(ctx); });
            }
            call([&](auto& cb) { if constexpr (requires { cb.on_train_end(ctx); }) cb.on_train_end(ctx); });
        } catch (...) {
            call([&](auto& cb) {
                if constexpr (requires { cb.on_train_exception(ctx); }) {
                    try {
                        cb.on_train_exception(ctx);
                    } catch (...) {  // the training error is the one to report
                    }
                }
            });
            initial_step_ = 0;
            throw;
        }
        initial_step_ = 0;  // as MindSpore's model.train: the next call starts from epoch 1 unless resumed
    }

    // Restores the network and optimizer from a train-network checkpoint (strict: every parameter
    // must be there) and continues the step count from its global_step (or step_num).
    std::size_t resume(const ParameterDict& dict) requires has_optimizer {
        const TensorRecord* step = dict.find("global_step");
        if (!step) step = dict.find("step_num");
        if (!step || step->is_string() || !is_integral(step->dtype) || step->element_count() != 1)
            throw ParameterError("resume: the checkpoint has no global_step or step_num to continue from");
        auto train = train_network(net_, *opt_);
        load_param_into_net<match::strict>(train, dict, {.require_all = true});
        std::int64_t value = 0;
        visit_dtype(step->dtype, [&](auto tag) {
            using T = decltype(tag);
            T v;
            std::memcpy(&v, step->data.data(), sizeof(T));
            if constexpr (std::is_integral_v<T>) value = static_cast<std::int64_t>(v);
        });
        if (value < 0) throw ParameterError("resume: negative step count in the checkpoint");
        initial_step_ = static_cast<std::size_t>(value);
        return initial_step_;
    }
    // Steps already done: the next train() continues after them (0 for a fresh run).
    std::size_t initial_step() const noexcept { return initial_step_; }
    void set_initial_step(std::size_t step) noexcept { initial_step_ = step; }

    // Accuracy, mean loss (with a loss function) and the Model's metrics over one pass of dataset, in
    // inference mode.
    template <Dataset D>
    EvalResult eval(D& dataset) {
        EvalResult r;
        r.has_loss = has_loss;
        net_.set_train(false);
        dataset.reset(0);
        std::size_t correct = 0, batches = 0;
        double loss_sum = 0.0;
        for (auto& m : metrics_) m.clear();
        while (dataset.next(batch_)) {
            mindsave::infer(net_, batch_.images, logits_);
            float loss = 0.0f;
            if constexpr (has_loss) loss = loss_->forward(logits_, batch_.labels);
            loss_sum += loss;
            ++batches;
            for (auto& m : metrics_) m.update(logits_, batch_.labels, loss);
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
        for (const auto& m : metrics_) r.metrics.values.emplace_back(m.name(), m.eval());
        return r;
    }

    // Logits of a batch of images, in inference mode; valid until the next call on this Model.
    const Tensor& predict(const Tensor& images) {
        net_.set_train(false);
        mindsave::infer(net_, images, logits_);
        net_.set_train(true);
        return logits_;
    }

    Net& network() noexcept { return net_; }
    Opt& optimizer() noexcept requires has_optimizer { return *opt_; }
    LossFn& loss_fn() noexcept requires has_loss { return *loss_; }

private:
    Net& net_;
    LossFn* loss_ = nullptr;
    Opt* opt_ = nullptr;
    Metrics metrics_;
    Batch batch_;
    Tensor logits_, dlogits_;
    std::shared_ptr<void> reducer_;  // a GradReducer<Comm> once data parallel
    CommunicatorRef group_;          // its group, for the callbacks (ModelCheckpoint commits through it)
    std::function<void()> reduce_, average_statistics_;
    std::size_t initial_step_ = 0;
};

template <Layer Net>
Model(Net&) -> Model<Net>;
template <Layer Net>
Model(Net&, Metrics) -> Model<Net>;
template <Layer Net, Loss LossFn>
Model(Net&, LossFn&) -> Model<Net, LossFn>;
template <Layer Net, Loss LossFn>
Model(Net&, LossFn&, Metrics) -> Model<Net, LossFn>;
template <Layer Net, Loss LossFn, Optimizer Opt>
Model(Net&, LossFn&, Opt&) -> Model<Net, LossFn, Opt>;
template <Layer Net, Loss LossFn, Optimizer Opt>
Model(Net&, LossFn&, Opt&, Metrics) -> Model<Net, LossFn, Opt>;

}  // namespace mindsave
