// Momentum as MindSpore's nn.Momentum (ApplyMomentum), with its state named as MindSpore saves it:
// global_step [1] Int32, learning_rate and momentum 0-d Float32, moments.<param> like each parameter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/nn/kernels/elementwise.hpp"

namespace mindsave {

struct MomentumOptions {
    float learning_rate = 0.01f;
    float momentum = 0.9f;
    float weight_decay = 0.0f;  // applied, as MindSpore's default decay_filter, to all but gamma / beta
    bool use_nesterov = false;
};

class Momentum {
public:
    static constexpr std::string_view cell_name = "Momentum";

    // Takes every trainable Parameter of net in its save order. The optimizer keeps pointers to
    // them: net must outlive it and stay where it is.
    template <HasParameters Net>
    Momentum(Net& net, MomentumOptions options)
        : global_step_({1}), learning_rate_(options.learning_rate), momentum_(options.momentum),
          weight_decay_(options.weight_decay), use_nesterov_(options.use_nesterov) {
        if (!(options.learning_rate >= 0.0f))
            throw ConfigError("Momentum: learning_rate must be >= 0, got " + std::to_string(options.learning_rate));
        if (!(options.momentum >= 0.0f))
            throw ConfigError("Momentum: momentum must be >= 0, got " + std::to_string(options.momentum));
        global_step_(0) = 0;
        mindsave::visit_parameters(net, [&](std::string_view name, auto& p) {
            if constexpr (is_parameter<std::remove_cvref_t<decltype(p)>>::value) {
                if (!p.requires_grad) return;
                Slot s{std::string("moments.").append(name), p.value.data(), p.grad.data(), p.size(),
                       name.find("beta") == std::string_view::npos && name.find("gamma") == std::string_view::npos,
                       Tensor::from_shape(p.value.shape())};
                s.moment.fill(0.0f);
                slots_.push_back(std::move(s));
            }
        });
    }
    template <HasParameters Net>
    Momentum(Net& net, float learning_rate, float momentum) : Momentum(net, {learning_rate, momentum}) {}

    void step() {
        const float lr = learning_rate_(), m = momentum_();
        for (auto& s : slots_) {
            if (weight_decay_ != 0.0f && s.decay) kernels::axpy(weight_decay_, s.value, s.grad, s.size);
            kernels::apply_momentum(s.value, s.moment.data(), s.grad, lr, m, use_nesterov_, s.size);
        }
        global_step_(0) += 1;
    }

    // MindSpore's order: global_step, learning_rate, momentum, then moments.* in parameter order.
    template <class F>
    void visit_parameters(F&& f) {
        f(std::string_view("global_step"), global_step_);
        f(std::string_view("learning_rate"), learning_rate_);
        f(std::string_view("momentum"), momentum_);
        for (auto& s : slots_) f(std::string_view(s.name), s.moment);
    }

    float learning_rate() const noexcept { return learning_rate_(); }
    void set_learning_rate(float lr) noexcept { learning_rate_() = lr; }
    float momentum() const noexcept { return momentum_(); }
    std::int32_t global_step() const noexcept { return global_step_(0); }

private:
    struct Slot {
        std::string name;  // "moments.<parameter path>"
        float* value;
        float* grad;
        std::size_t size;
        bool decay;
        Tensor moment;
    };

    std::vector<Slot> slots_;
    xt::xtensor<std::int32_t, 1> global_step_;
    xt::xtensor<float, 0> learning_rate_;
    xt::xtensor<float, 0> momentum_;
    float weight_decay_;
    bool use_nesterov_;
};

}  // namespace mindsave
