// Matching policies for load_param_into_net: how checkpoint names find network parameters and
// which dtype differences are converted. Chosen at compile time: load_param_into_net<match::strict>.
#pragma once

#include <concepts>

namespace mindsave::match {

// MindSpore's strict_load=False: exact names first, then its prefix fallback (a checkpoint key that
// ends with the parameter's name lends its prefix to all still-missing parameters), and
// conversion within the float family (Float16/32/64, BFloat16) and the int family (Int8..Int64).
struct suffix {
    static constexpr bool prefix_fallback = true;
    static constexpr bool cast_within_family = true;
};

// MindSpore's strict_load=True: exact names only, and dtypes must agree.
struct strict {
    static constexpr bool prefix_fallback = false;
    static constexpr bool cast_within_family = false;
};

}  // namespace mindsave::match

namespace mindsave {

template <class M>
concept MatchPolicy = requires {
    { M::prefix_fallback } -> std::convertible_to<bool>;
    { M::cast_within_family } -> std::convertible_to<bool>;
};

}  // namespace mindsave
