// Test support: two parameter holders (networks, optimizers) hold the same parameters, bit for bit,
// in the same order, with the same names and shapes; a Catch2 check per parameter, named in its INFO.
#pragma once

#include <cstddef>
#include <cstring>

#include <catch2/catch.hpp>

#include "mindsave/core/record_views.hpp"

namespace mindsave::testing {

template <class A, class B>
void check_same_parameters(A& a, B& b) {
    RecordViews va, vb;
    va.add_parameters(a);
    vb.add_parameters(b);
    REQUIRE(va.views().size() == vb.views().size());
    for (std::size_t i = 0; i < va.views().size(); ++i) {
        const auto& x = va.views()[i];
        const auto& y = vb.views()[i];
        INFO(x.name);
        CHECK(x.name == y.name);
        CHECK(x.shape == y.shape);
        CHECK((x.data.size() == y.data.size() && std::memcmp(x.data.data(), y.data.data(), x.data.size()) == 0));
    }
}

}  // namespace mindsave::testing
