// Momentum as MindSpore's nn.Momentum (ApplyMomentum), with its state named as MindSpore saves it:
// global_step [1] Int32, learning_rate and momentum 0-d Float32, moments.<param> like each parameter.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "mindsave/core/aside_lease.hpp"
#include "mindsave/core/concepts.hpp"
#include "mindsave/core/parallel.hpp"
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
                static_assert(std::is_same_v<std::remove_cvref_t<decltype(p.value.storage())>, Storage>);
                Slot s{std::string("moments.").append(name), &p.value.storage(), p.grad.data(), p.size(),
                       name.find("beta") == std::string_view::npos && name.find("gamma") == std::string_view::npos,
                       Tensor::from_shape(p.value.shape()), {}, {}};
                s.moment.fill(0.0f);
                slots_.push_back(std::move(s));
            }
        });
    }
    template <HasParameters Net>
    Momentum(Net& net, float learning_rate, float momentum) : Momentum(net, {learning_rate, momentum}) {}

    void step() {
        const float lr = learning_rate_(), m = momentum_();
        const bool aside = std::exchange(write_aside_, false);
        if (aside) gate_->wait_until_unread(1 - front_);  // a save still reading the other buffers
        for (auto& s : slots_) update(s, lr, m, aside);
        if (aside) front_ = 1 - front_;
        global_step_(0) += 1;
    }

    // Writing aside (WritesAside): ModelCheckpoint's async_save lets a background writer read the values and
    // moments in place. The next step leaves them as they are and moves the state to the second buffers, so
    // each parameter's memory changes address there (layers and parameter lists look it up anew). It costs
    // a second copy of the values and moments in memory and no copy at the save; the step written aside
    // takes about a fifth longer than one in place (bench_async_save's BM_MomentumUpdate).
    void reserve_aside_buffers() {
        std::lock_guard lock(gate_->mutex);
        if (gate_.reserved) return;  // never again: steps then use the buffers without the lock
        for (auto& s : slots_) {
            touch(s.value_aside, s.size);
            touch(s.moment_aside, s.size);
        }
        gate_.reserved = true;
    }
    [[nodiscard]] AsideLease write_aside() {
        reserve_aside_buffers();  // a no-op once reserved
        write_aside_ = true;
        return AsideLease(gate_.shared, front_);
    }
    // The memory of every value and moment as it is now: what write_aside() leaves as it is.
    template <class F>
    void visit_aside_memory(F&& f) const {
        for (const auto& s : slots_) {
            f(std::as_bytes(std::span<const float>(s.value->data(), s.size)));
            f(std::as_bytes(std::span<const float>(s.moment.data(), s.size)));
        }
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
    using Storage = std::remove_cvref_t<decltype(std::declval<Tensor&>().storage())>;
    // A tensor this large, written aside, bypasses the caches: it would not stay there until the next
    // forward anyway, and bypassing saves reading the lines first (a third more memory traffic).
    static constexpr std::size_t stream_bytes = std::size_t{256} << 10;

    struct Slot {
        std::string name;  // "moments.<parameter path>"
        Storage* value;    // the parameter's storage: its buffer is swapped with value_aside by a step aside
        float* grad;
        std::size_t size;
        bool decay;
        Tensor moment;
        Storage value_aside, moment_aside;  // empty until reserve_aside_buffers()
    };

    // One parameter's update: in place, or aside into the second buffers, which then become the state.
    // A large one is split over the thread pool in whole blocks (elementwise, so the split changes no bit).
    void update(Slot& s, float lr, float m, bool aside) {
        float* var = s.value->data();
        float* moment = s.moment.data();
        float* var_out = aside ? s.value_aside.data() : var;
        float* moment_out = aside ? s.moment_aside.data() : moment;
        const bool decay = weight_decay_ != 0.0f && s.decay;
        const bool stream = aside && s.size * sizeof(float) >= stream_bytes;
        auto run = [&](std::size_t i0, std::size_t i1) {
            if (decay) kernels::axpy(weight_decay_, var + i0, s.grad + i0, i1 - i0);
            kernels::apply_momentum_to(var_out + i0, moment_out + i0, var + i0, moment + i0, s.grad + i0, lr, m,
                                       use_nesterov_, i1 - i0, stream);
        };
        constexpr std::size_t block = 4096;  // floats: 16 KiB, a multiple of every vector width
        if (s.size < 16 * block) {
            run(0, s.size);
        } else {
            parallel_for((s.size + block - 1) / block, [&](std::size_t b0, std::size_t b1, std::size_t) {
                run(b0 * block, std::min(b1 * block, s.size));
            }, /*grain=*/8);
        }
        if (aside) {
            s.value->swap(s.value_aside);
            s.moment.storage().swap(s.moment_aside);
        }
    }

    // Allocated and written once, so the first step aside does not fault its pages in.
    static void touch(Storage& buffer, std::size_t n) {
        if (buffer.size() == n) return;
        buffer.resize(n);
        std::fill(buffer.begin(), buffer.end(), 0.0f);
    }

    std::vector<Slot> slots_;
    xt::xtensor<std::int32_t, 1> global_step_;
    xt::xtensor<float, 0> learning_rate_;
    xt::xtensor<float, 0> momentum_;
    float weight_decay_;
    bool use_nesterov_;
    bool write_aside_ = false;
    int front_ = 0;  // which of the two buffer sets holds the state (for the leases)
    // The readers of the two buffer sets. A copied Momentum gets a gate of its own: the original's
    // leases say nothing about the copy's buffers.
    struct Gate {
        std::shared_ptr<detail::AsideGate> shared = std::make_shared<detail::AsideGate>();
        bool reserved = false;  // guarded by shared->mutex
        Gate() = default;
        Gate(const Gate&) : Gate() {}
        Gate& operator=(const Gate&) noexcept {  // keeps this gate; the slots' buffers come from the other
            reserved = false;
            return *this;
        }
        Gate(Gate&&) noexcept = default;
        Gate& operator=(Gate&&) noexcept = default;
        detail::AsideGate* operator->() const noexcept { return shared.get(); }
    };
    Gate gate_;
};

}  // namespace mindsave
