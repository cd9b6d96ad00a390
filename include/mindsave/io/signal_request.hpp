// SignalRequest: catches termination signals for a while so training can stop at a step boundary.
// The handler only records the signal (async-signal-safe); the owner polls, then restores the old handlers.
#pragma once

#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/errors.hpp"

namespace mindsave {

namespace detail {
// One flag per signal number: all a handler may touch is a lock-free atomic.
inline std::atomic<int> signal_arrived[NSIG];
static_assert(std::atomic<int>::is_always_lock_free, "a signal handler needs a lock-free flag");

inline void record_signal(int sig) noexcept {
    if (sig > 0 && sig < NSIG) signal_arrived[sig].store(1, std::memory_order_relaxed);
}

inline std::string signal_label(int sig) {
    switch (sig) {
        case SIGTERM: return "SIGTERM";
        case SIGINT: return "SIGINT";
        case SIGHUP: return "SIGHUP";
        case SIGQUIT: return "SIGQUIT";
        case SIGUSR1: return "SIGUSR1";
        case SIGUSR2: return "SIGUSR2";
        case SIGKILL: return "SIGKILL";
        case SIGSTOP: return "SIGSTOP";
        default: return "signal " + std::to_string(sig);
    }
}
}  // namespace detail

class SignalRequest {
public:
    SignalRequest() = default;
    SignalRequest(const SignalRequest&) = delete;
    SignalRequest& operator=(const SignalRequest&) = delete;
    ~SignalRequest() { release(); }

    // Starts catching `signals` (replacing any earlier set). System calls a signal interrupts are
    // restarted (SA_RESTART), so a save under way is not cut short by EINTR.
    void install(std::span<const int> signals, std::string_view who) {
        release();
        for (const int sig : signals)
            if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
                throw ConfigError(std::string(who) + ": cannot catch " + detail::signal_label(sig) +
                                  (sig == SIGKILL || sig == SIGSTOP ? " (the kernel never delivers it to a handler)" : "") +
                                  "; use a catchable one such as SIGTERM, SIGINT or SIGUSR1");
        for (const int sig : signals) {
            detail::signal_arrived[sig].store(0, std::memory_order_relaxed);
            struct sigaction action {};
            action.sa_handler = &detail::record_signal;
            ::sigemptyset(&action.sa_mask);
            action.sa_flags = SA_RESTART;
            Saved saved{sig, {}};
            if (::sigaction(sig, &action, &saved.previous) != 0) {
                const int err = errno;
                release();
                throw ConfigError(std::string(who) + ": sigaction(" + detail::signal_label(sig) +
                                  ") failed: " + std::strerror(err));
            }
            saved_.push_back(saved);
        }
    }

    // The first of the signals that arrived since install(), if any.
    std::optional<int> pending() const noexcept {
        for (const auto& s : saved_)
            if (detail::signal_arrived[s.sig].load(std::memory_order_relaxed)) return s.sig;
        return std::nullopt;
    }
    bool installed() const noexcept { return !saved_.empty(); }

    // Puts back the handlers that were there before install(), last installed first.
    void release() noexcept {
        for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) ::sigaction(it->sig, &it->previous, nullptr);
        saved_.clear();
    }

private:
    struct Saved {
        int sig;
        struct sigaction previous;
    };
    std::vector<Saved> saved_;
};

}  // namespace mindsave
