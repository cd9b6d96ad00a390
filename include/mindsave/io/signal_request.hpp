// SignalRequest: catches termination signals for a while so training can stop at a step boundary.
// The handler only counts the signal (async-signal-safe); the owner polls, then the old handler returns.
#pragma once

#include <signal.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/errors.hpp"

namespace mindsave {

namespace detail {
// Arrivals per signal number: all a handler may touch is a lock-free atomic.
inline std::atomic<unsigned> signal_arrivals[NSIG];
static_assert(std::atomic<unsigned>::is_always_lock_free, "a signal handler needs a lock-free counter");

// Arrivals some watcher has dealt with: one handled request counts as handled for every watcher.
inline std::atomic<unsigned> signal_handled[NSIG];

inline void record_signal(int sig) noexcept {
    if (sig > 0 && sig < NSIG) signal_arrivals[sig].fetch_add(1, std::memory_order_relaxed);
}

// One installation per signal however many SignalRequests use it (ModelCheckpoint and OnRequestExit in
// one train() both do): the first user installs, the last restores the handler that was there before.
struct SignalInstallations {
    std::mutex mutex;
    std::array<unsigned, NSIG> users{};
    std::array<struct sigaction, NSIG> previous{};
};
inline SignalInstallations& signal_installations() {
    static SignalInstallations s;
    return s;
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

// A ConfigError for a signal no handler can catch; `who` names the caller.
inline void check_catchable(int sig, std::string_view who) {
    if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
        throw ConfigError(std::string(who) + ": cannot catch " + signal_label(sig) +
                          (sig == SIGKILL || sig == SIGSTOP ? " (the kernel never delivers it to a handler)" : "") +
                          "; use a catchable one such as SIGTERM, SIGINT or SIGUSR1");
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
        watched_.clear();
        for (const int sig : signals) detail::check_catchable(sig, who);
        auto& inst = detail::signal_installations();
        const std::lock_guard lock(inst.mutex);
        installed_ = true;
        for (const int sig : signals) {
            if (inst.users[sig] == 0) {
                struct sigaction action {};
                action.sa_handler = &detail::record_signal;
                ::sigemptyset(&action.sa_mask);
                action.sa_flags = SA_RESTART;
                if (::sigaction(sig, &action, &inst.previous[sig]) != 0) {
                    const int err = errno;
                    release_locked(inst);
                    throw ConfigError(std::string(who) + ": sigaction(" + detail::signal_label(sig) +
                                      ") failed: " + std::strerror(err));
                }
            }
            ++inst.users[sig];
            watched_.push_back({sig, detail::signal_arrivals[sig].load(std::memory_order_relaxed)});
        }
    }

    // The first watched signal that arrived since install() and that no watcher has acknowledged, if any.
    // Still answers after release(): what came while the handler was installed is not forgotten.
    std::optional<int> pending() const noexcept {
        for (const auto& w : watched_) {
            const unsigned arrived = detail::signal_arrivals[w.sig].load(std::memory_order_relaxed);
            const unsigned handled = detail::signal_handled[w.sig].load(std::memory_order_relaxed);
            if (arrived != w.seen && arrived != handled) return w.sig;
        }
        return std::nullopt;
    }
    // Marks every arrival so far as handled, for this watcher and every other.
    void acknowledge() noexcept {
        for (auto& w : watched_) {
            w.seen = detail::signal_arrivals[w.sig].load(std::memory_order_relaxed);
            detail::signal_handled[w.sig].store(w.seen, std::memory_order_relaxed);
        }
    }
    bool installed() const noexcept { return installed_; }

    // Stops watching; the last user of a signal puts back the handler from before the first install().
    void release() noexcept {
        if (!installed_) return;
        auto& inst = detail::signal_installations();
        const std::lock_guard lock(inst.mutex);
        release_locked(inst);
    }

    // release(), then hands a signal that came and was not acknowledged to the handler from before (by
    // default the process ends as the signal says): a request is never dropped silently.
    void release_and_redeliver() noexcept {
        release();
        if (const auto sig = pending()) {
            acknowledge();
            ::raise(*sig);
        }
    }

private:
    void release_locked(detail::SignalInstallations& inst) noexcept {
        for (auto it = watched_.rbegin(); it != watched_.rend(); ++it)
            if (inst.users[it->sig] > 0 && --inst.users[it->sig] == 0) ::sigaction(it->sig, &inst.previous[it->sig], nullptr);
        installed_ = false;
    }

    struct Watched {
        int sig;
        unsigned seen;  // signal_arrivals[sig] at install() or this watcher's last acknowledge()
    };
    std::vector<Watched> watched_;  // kept after release(), for pending()
    bool installed_ = false;
};

}  // namespace mindsave
