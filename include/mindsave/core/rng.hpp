// A seeded random generator with distributions written out, so a seed gives the same numbers
// with every standard library (std:: distributions are implementation-defined).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace mindsave {

// SplitMix64-seeded xoshiro256**: small state, fast, good statistical quality.
class Generator {
public:
    explicit Generator(std::uint64_t seed = 0) { this->seed(seed); }

    void seed(std::uint64_t seed) noexcept {
        for (auto& s : state_) {
            seed += 0x9e3779b97f4a7c15ull;
            std::uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            s = z ^ (z >> 31);
        }
        has_spare_ = false;
    }

    std::uint64_t next() noexcept {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 53 random bits.
    double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform(); }
    // Uniform integer in [0, n), unbiased (Lemire's rejection).
    std::uint64_t below(std::uint64_t n) noexcept {
        if (n == 0) return 0;
        const std::uint64_t limit = -n % n;
        for (;;) {
            const auto m = static_cast<unsigned __int128>(next()) * n;
            if (static_cast<std::uint64_t>(m) >= limit) return static_cast<std::uint64_t>(m >> 64);
        }
    }
    // Standard normal by Box-Muller, caching the second value.
    double normal() noexcept {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u1 = uniform();
        while (u1 <= 0.0) u1 = uniform();
        const double u2 = uniform();
        const double r = std::sqrt(-2.0 * std::log(u1));
        spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
        has_spare_ = true;
        return r * std::cos(2.0 * std::numbers::pi * u2);
    }
    double normal(double mean, double sigma) noexcept { return mean + sigma * normal(); }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    std::uint64_t state_[4]{};
    double spare_ = 0.0;
    bool has_spare_ = false;
};

}  // namespace mindsave
