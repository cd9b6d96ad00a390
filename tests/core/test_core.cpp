// core/: dtypes and their names, half-precision conversions, the seeded generator, concepts.
#include <cmath>
#include <set>

#include <catch2/catch.hpp>

#include "mindsave/mindsave.hpp"

using namespace mindsave;

TEST_CASE("every dtype has MindSpore's name and size, and the name parses back", "[dtype]") {
    const std::pair<DType, const char*> expected[] = {
        {DType::Bool, "Bool"},       {DType::Int8, "Int8"},       {DType::Int16, "Int16"},
        {DType::Int32, "Int32"},     {DType::Int64, "Int64"},     {DType::UInt8, "UInt8"},
        {DType::UInt16, "UInt16"},   {DType::UInt32, "UInt32"},   {DType::UInt64, "UInt64"},
        {DType::Float16, "Float16"}, {DType::Float32, "Float32"}, {DType::Float64, "Float64"},
        {DType::BFloat16, "BFloat16"}};
    for (auto [t, name] : expected) {
        CHECK(dtype_name(t) == name);
        CHECK(parse_dtype(name) == t);
        visit_dtype(t, [&](auto v) { CHECK(dtype_size(t) == sizeof(v)); CHECK(dtype_of_v<decltype(v)> == t); });
    }
    CHECK(parse_dtype("Uint8") == DType::UInt8);  // MindSpore 1.0-1.5 spelling
    CHECK_FALSE(parse_dtype("Complex64").has_value());
    CHECK_FALSE(parse_dtype("float32").has_value());
}

TEST_CASE("float16 converts like IEEE binary16 with round-to-nearest-even", "[dtype]") {
    CHECK(float16::from_float(1.0f).bits == 0x3c00);
    CHECK(float16::from_float(-2.0f).bits == 0xc000);
    CHECK(float16::from_float(65504.0f).bits == 0x7bff);
    CHECK(float16::from_float(1e6f).bits == 0x7c00);             // overflow to infinity
    CHECK(float16::from_float(5.9604645e-8f).bits == 0x0001);    // smallest subnormal
    CHECK(float16::from_float(1.0f + 1.0f / 2048).bits == 0x3c00);  // tie rounds to even
    CHECK(float16::from_float(1.0f + 3.0f / 2048).bits == 0x3c02);
    CHECK(std::isnan(float16::from_float(NAN).to_float()));
    // every finite half round-trips exactly through float
    for (std::uint32_t b = 0; b < 0x10000; ++b) {
        const float16 h{static_cast<std::uint16_t>(b)};
        if (((b >> 10) & 0x1f) == 0x1f) continue;
        REQUIRE(float16::from_float(h.to_float()).bits == h.bits);
    }
}

TEST_CASE("bfloat16 is the rounded top half of a float", "[dtype]") {
    CHECK(bfloat16::from_float(1.0f).bits == 0x3f80);
    CHECK(bfloat16::from_float(3.140625f).to_float() == 3.140625f);
    CHECK(bfloat16{0x4049}.to_float() == 3.140625f);
    CHECK(std::isnan(bfloat16::from_float(NAN).to_float()));
}

TEST_CASE("Generator is deterministic per seed and its distributions have the right moments", "[rng]") {
    Generator a(42), b(42), c(43);
    for (int i = 0; i < 100; ++i) REQUIRE(a.next() == b.next());
    CHECK(a.next() != c.next());
    Generator g(7);
    double s = 0, s2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
        const double x = g.normal();
        s += x;
        s2 += x * x;
    }
    CHECK(std::abs(s / n) < 0.01);
    CHECK(std::abs(s2 / n - 1.0) < 0.02);
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 1000; ++i) {
        const auto v = g.below(10);
        REQUIRE(v < 10);
        seen.insert(v);
    }
    CHECK(seen.size() == 10);
}

namespace {
// A user's own struct of tensors: three lines make it a parameter holder.
struct UserState {
    xt::xtensor<float, 2> w = xt::zeros<float>({2, 3});
    xt::xtensor<std::int64_t, 1> steps = xt::zeros<std::int64_t>({1});
    template <class F>
    void visit_parameters(F&& f) {
        f(std::string_view("w"), w);
        f(std::string_view("steps"), steps);
    }
};
}  // namespace

TEST_CASE("the concepts accept our layers and a user's own types, and reject others", "[concepts]") {
    STATIC_REQUIRE(Layer<Conv2d<1, 6, 5>>);
    STATIC_REQUIRE(Layer<Dense<4, 2>>);
    STATIC_REQUIRE(Layer<ReLU>);
    STATIC_REQUIRE(Layer<LeNet5<>>);
    STATIC_REQUIRE(HasParameters<LeNet5<>>);
    STATIC_REQUIRE(HasParameters<UserState>);
    STATIC_REQUIRE_FALSE(HasParameters<ReLU>);
    STATIC_REQUIRE_FALSE(Layer<int>);
    STATIC_REQUIRE(Optimizer<Momentum>);
    STATIC_REQUIRE(Loss<SoftmaxCrossEntropyWithLogits<>>);

    UserState s;
    std::vector<std::string> names;
    visit_parameters(s, "opt", [&](std::string_view n, auto& t) {
        names.emplace_back(n);
        CHECK(view_of(t).bytes.size() == t.size() * sizeof(typename std::remove_cvref_t<decltype(t)>::value_type));
    });
    CHECK(names == std::vector<std::string>{"opt.w", "opt.steps"});
}

TEST_CASE("LeNet5 has MindSpore's 8 parameters with their names, shapes and dtypes in order", "[models]") {
    LeNet5<> net;
    std::vector<std::pair<std::string, Shape>> got;
    visit_parameters(net, [&](std::string_view n, auto& p) {
        const auto v = view_of(p);
        CHECK(v.dtype == DType::Float32);
        got.emplace_back(std::string(n), v.shape);
    });
    const std::vector<std::pair<std::string, Shape>> expected{
        {"conv1.weight", {6, 1, 5, 5}}, {"conv2.weight", {16, 6, 5, 5}}, {"fc1.weight", {120, 400}},
        {"fc1.bias", {120}},            {"fc2.weight", {84, 120}},       {"fc2.bias", {84}},
        {"fc3.weight", {10, 84}},       {"fc3.bias", {10}}};
    CHECK(got == expected);

    LeNet5<2, 3> small;
    std::size_t floats = 0;
    visit_parameters(small, [&](std::string_view n, auto& p) {
        if (n == "conv1.weight") CHECK(view_of(p).shape == Shape{6, 3, 5, 5});
        if (n == "fc3.bias") CHECK(view_of(p).shape == Shape{2});
        floats += p.size();
    });
    CHECK(floats == 6 * 3 * 25 + 16 * 6 * 25 + 400 * 120 + 120 + 120 * 84 + 84 + 84 * 2 + 2);
}

TEST_CASE("an unnamed child of Sequential is named by its index, as SequentialCell does", "[models]") {
    Sequential<Dense<3, 2>, ReLU, Named<"head", Dense<2, 1>>> net;
    std::vector<std::string> names;
    visit_parameters(net, [&](std::string_view n, auto&) { names.emplace_back(n); });
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "head.weight", "head.bias"});
    CHECK(&net.get<"head">().weight() == &net.get<2>().layer().weight());
}

TEST_CASE("a network is initialised from its seed, reproducibly", "[models]") {
    LeNet5<> a(1), b(1), c(2);
    const bool same_seed_equal = a.get<"fc1">().weight().value == b.get<"fc1">().weight().value;
    const bool other_seed_equal = a.get<"fc1">().weight().value == c.get<"fc1">().weight().value;
    CHECK(same_seed_equal);
    CHECK_FALSE(other_seed_equal);
    // Dense weights are Normal(0.02) as in MindSpore's LeNet5
    const auto& w = a.get<"fc1">().weight().value;
    const double mean = xt::mean(w)();
    const double sd = std::sqrt(double(xt::variance(w)()));
    CHECK(std::abs(mean) < 0.001);
    CHECK(sd == Approx(0.02).epsilon(0.03));
    // conv weights HeUniform(sqrt 5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 1*5*5
    const auto& k = a.get<"conv1">().weight().value;
    const float largest = xt::amax(xt::abs(k))();
    CHECK(largest <= 0.2f);
    CHECK(largest > 0.15f);
}

TEST_CASE("shape errors name the layer, the expected and the actual shape", "[errors]") {
    Conv2d<3, 8, 3> conv;
    Tensor x = xt::zeros<float>({2, 1, 8, 8}), y;
    try {
        conv.forward(x, y);
        FAIL("no exception");
    } catch (const ShapeError& e) {
        CHECK_THAT(e.what(), Catch::Contains("Conv2d<3, 8, 3>") && Catch::Contains("[N, 3, H, W]") &&
                                 Catch::Contains("[2, 1, 8, 8]"));
    }
    Dense<10, 2> dense;
    CHECK_THROWS_WITH(dense.forward(x, y), Catch::Contains("Flatten"));
    CHECK_THROWS_AS(dense.forward(x, y), Error);
}
