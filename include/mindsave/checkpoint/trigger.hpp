// Save triggers for ModelCheckpoint, chosen at compile time: every_steps, every_seconds, on_exception,
// and any_of<...> to combine them; their N comes from the CheckpointConfig at run time.
#pragma once

#include <chrono>
#include <cstddef>
#include <tuple>
#include <type_traits>

#include "mindsave/checkpoint/config.hpp"

namespace mindsave::trigger {

// What a trigger sees when asked whether a save is due.
template <class Clock>
struct Moment {
    std::size_t step;                     // global step, from 1
    typename Clock::time_point now;
};

// Save when at least save_checkpoint_steps steps passed since the last save (MindSpore's step mode).
struct every_steps {
    std::size_t steps = 0;
    std::size_t last = 0;

    void configure(const CheckpointPolicy& p, auto) { steps = static_cast<std::size_t>(p.save_checkpoint_steps); }
    template <class Clock>
    bool due(const Moment<Clock>& m) const noexcept { return steps > 0 && m.step >= last + steps; }
    bool saves_on_exception() const noexcept { return false; }
    template <class Clock>
    void saved(const Moment<Clock>& m) noexcept { last = m.step; }
};

// Save when more than save_checkpoint_seconds passed since the last save, timed from construction.
struct every_seconds {
    std::int64_t seconds = 0;
    std::chrono::nanoseconds last{};

    template <class TimePoint>
    void configure(const CheckpointPolicy& p, TimePoint start) {
        seconds = p.save_checkpoint_seconds;
        last = start.time_since_epoch();
    }
    template <class Clock>
    bool due(const Moment<Clock>& m) const noexcept {
        return seconds > 0 && m.now.time_since_epoch() - last > std::chrono::seconds(seconds);
    }
    bool saves_on_exception() const noexcept { return false; }
    template <class Clock>
    void saved(const Moment<Clock>& m) noexcept { last = m.now.time_since_epoch(); }
};

// Never on a step; when training throws, a {prefix}-{epoch}_{step}_breakpoint checkpoint is written.
struct on_exception {
    void configure(const CheckpointPolicy&, auto) {}
    template <class Clock>
    bool due(const Moment<Clock>&) const noexcept { return false; }
    bool saves_on_exception() const noexcept { return true; }
    template <class Clock>
    void saved(const Moment<Clock>&) noexcept {}
};

// on_exception switched by CheckpointConfig::exception_save, as MindSpore's.
struct exception_if_configured : on_exception {
    bool enabled = false;
    void configure(const CheckpointPolicy& p, auto) { enabled = p.exception_save; }
    bool saves_on_exception() const noexcept { return enabled; }
};

// Due when any part is due. MindSpore's CheckpointConfig is from_config: the parts switched on by its
// values (steps win over seconds; exception_save).
template <class... Ts>
struct any_of {
    std::tuple<Ts...> parts;

    void configure(const CheckpointPolicy& p, auto start) {
        std::apply([&](auto&... t) { (t.configure(p, start), ...); }, parts);
    }
    template <class Clock>
    bool due(const Moment<Clock>& m) const noexcept {
        return std::apply([&](const auto&... t) { return (t.due(m) || ...); }, parts);
    }
    bool saves_on_exception() const noexcept {
        return std::apply([&](const auto&... t) { return (t.saves_on_exception() || ...); }, parts);
    }
    template <class Clock>
    void saved(const Moment<Clock>& m) noexcept {
        std::apply([&](auto&... t) { (t.saved(m), ...); }, parts);
    }
};

using from_config = any_of<every_steps, every_seconds, exception_if_configured>;

// Whether a trigger may decide by the clock: each rank's clock differs, so a distributed run then takes
// rank 0's decision every step. A trigger mindsave does not know is assumed to.
template <class T>
inline constexpr bool reads_clock = true;
template <>
inline constexpr bool reads_clock<every_steps> = false;
template <>
inline constexpr bool reads_clock<on_exception> = false;
template <>
inline constexpr bool reads_clock<exception_if_configured> = false;
template <class... Ts>
inline constexpr bool reads_clock<any_of<Ts...>> = (reads_clock<Ts> || ...);

// Whether the clock can decide a save of trigger T under policy p (every_seconds only with seconds set).
template <class T>
constexpr bool clock_decides(const CheckpointPolicy& p) {
    if constexpr (std::is_same_v<T, from_config>) return p.save_checkpoint_seconds > 0;
    else return reads_clock<T>;
}

}  // namespace mindsave::trigger

namespace mindsave {

template <class T>
concept SaveTrigger = requires(T& t, const T& ct, const CheckpointPolicy& p,
                               const trigger::Moment<std::chrono::steady_clock>& m) {
    { ct.saves_on_exception() } -> std::convertible_to<bool>;
    t.configure(p, std::chrono::steady_clock::now());
    { ct.due(m) } -> std::convertible_to<bool>;
    t.saved(m);
};

}  // namespace mindsave
