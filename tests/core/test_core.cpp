// core/: dtypes and their names, half-precision conversions, the seeded generator, concepts.
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

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

TEST_CASE("checked_byte_count multiplies a shape out, reports overflow, and counts a zero dimension as empty",
          "[core][byte_count]") {
    CHECK(checked_byte_count(Shape{6, 1, 5, 5}, 4) == std::optional<std::size_t>(600));
    CHECK(checked_byte_count(Shape{}, 8) == std::optional<std::size_t>(8));  // a 0-d scalar: one element
    CHECK_FALSE(checked_byte_count(Shape{std::size_t{1} << 40, std::size_t{1} << 30}, 1).has_value());
    CHECK_FALSE(checked_byte_count(Shape{std::size_t{1} << 62}, 4).has_value());  // the element size overflows
    CHECK(checked_byte_count(Shape{std::size_t{1} << 20, std::size_t{1} << 20, 0}, 4) == std::optional<std::size_t>(0));
    // as numpy and the reference safetensors reader: the other dimensions must not overflow, even beside a 0
    CHECK_FALSE(checked_byte_count(Shape{std::size_t{1} << 40, std::size_t{1} << 40, 0}, 4).has_value());
    const std::vector<std::uint64_t> torch_sizes{3, 4};
    CHECK(checked_byte_count(torch_sizes, 2) == std::optional<std::size_t>(24));
}

TEST_CASE("endian helpers read and write n-byte integers in both byte orders", "[core][endian]") {
    std::byte buf[8]{};
    store_le(buf, 0x0102030405060708u, 8);
    CHECK(std::to_integer<int>(buf[0]) == 0x08);
    CHECK(std::to_integer<int>(buf[7]) == 0x01);
    CHECK(load_le(buf, 8) == 0x0102030405060708u);
    CHECK(load_le(buf, 3) == 0x060708u);
    store_be(buf, 0xa1b2c3d4u, 4);
    CHECK(std::to_integer<int>(buf[0]) == 0xa1);
    CHECK(load_be(buf, 4) == 0xa1b2c3d4u);
    std::vector<char> text;
    append_le(text, 0x41424344u, 4);
    CHECK(std::string(text.begin(), text.end()) == "DCBA");
    static_assert(load_le("\x01\x02", 2) == 0x0201);  // usable at compile time
}

TEST_CASE("'same' padding splits the missing input around it, the odd pixel after, for every size", "[core][padding]") {
    for (std::size_t n = 1; n <= 12; ++n)
        for (std::size_t k = 1; k <= 7; ++k)
            for (std::size_t s = 1; s <= 3; ++s) {
                INFO("n=" << n << " k=" << k << " s=" << s);
                const std::size_t out = detail::padded_output_size(PadMode::same, n, k, s, 0);
                CHECK(out == (n + s - 1) / s);
                const std::size_t before = detail::padding_before(PadMode::same, n, out, k, s, 0);
                const std::size_t after = detail::padding_after(PadMode::same, n, out, k, s, 0);
                const std::size_t needed = (out - 1) * s + k;
                CHECK(before + n + after == std::max(needed, n));
                CHECK((after == before || after == before + 1));
                CHECK(detail::padding_after(PadMode::pad, n, out, k, s, 2) == 2);
                CHECK(detail::padding_after(PadMode::valid, n, out, k, s, 2) == 0);
            }
}

TEST_CASE("a type's cell name is its own, a model's is given beside it, a Sequential is a SequentialCell",
          "[core][cell_name]") {
    STATIC_REQUIRE(cell_name<Conv2d<1, 6, 5>> == "Conv2d");
    STATIC_REQUIRE(cell_name<BatchNorm2d<4>> == "BatchNorm2d");
    STATIC_REQUIRE(cell_name<Momentum> == "Momentum");
    STATIC_REQUIRE(cell_name<LeNet5<>> == "LeNet5");
    STATIC_REQUIRE(cell_name<ResNet50<2>> == "ResNet");
    STATIC_REQUIRE(cell_name<Sequential<Named<"fc", Dense<4, 2>>>> == "SequentialCell");
    STATIC_REQUIRE(cell_name<int> == "Cell");
    // the graph of a plain Sequential is named after its class, as MindSpore names a graph
    Sequential<Named<"fc", Dense<4, 2>>> net;
    const Shape input{1, 4};
    CHECK(export_graph(net, std::span<const Shape>(&input, 1)).name == "SequentialCell");
    LeNet5<> lenet;
    const Shape image{1, 1, 32, 32};
    CHECK(export_graph(lenet, std::span<const Shape>(&image, 1)).name == "LeNet5");
}

TEST_CASE("a record copied from a view of 32 MiB asks for huge pages: far fewer page faults than 4 KiB pages",
          "[record][huge_pages]") {
    std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string mode;
    std::getline(thp, mode);
    if (mode.find("[madvise]") == std::string::npos && mode.find("[always]") == std::string::npos) {
        WARN("transparent huge pages are off here ('" << mode << "'): nothing to check");
        return;
    }
    const std::size_t n = std::size_t{32} << 20;
    std::vector<std::byte> source(n, std::byte{7});
    const RecordView view{"big", DType::UInt8, {n}, source, false};
    const auto faults = [] {
        rusage u{};
        ::getrusage(RUSAGE_SELF, &u);
        return u.ru_minflt;
    };
    const long before = faults();
    const TensorRecord copy = TensorRecord::from_view(view);
    const long taken = faults() - before;
    CHECK(copy.data.size() == n);
    CHECK(copy.data[n - 1] == std::byte{7});
    CHECK(taken < static_cast<long>(n / 4096 / 4));  // 8,192 with 4 KiB pages; ~16 huge ones plus the edges
}

TEST_CASE("records' bytes from an arena: aligned, faulted in as huge pages, moved with the arena, copied to the heap, "
          "and from the heap once the arena is full", "[record][arena]") {
    const std::size_t n = std::size_t{32} << 20;
    const auto arena = detail::RecordArena::make(n + 3 * detail::RecordArena::alignment);
    REQUIRE(arena != nullptr);
    const RecordAllocator<std::byte> from_arena(arena);
    RecordBytes small(3, from_arena);
    RecordBytes big(n, from_arena);
    CHECK(arena->owns(small.data()));
    CHECK(arena->owns(big.data()));
    CHECK(reinterpret_cast<std::uintptr_t>(big.data()) % detail::RecordArena::alignment == 0);
    CHECK(std::all_of(big.begin(), big.end(), [](std::byte b) { return b == std::byte{0}; }));  // value-initialised

    RecordBytes more(arena->capacity(), from_arena);  // more than the room left: the heap
    CHECK(!arena->owns(more.data()));
    more.assign(10, std::byte{9});  // heap memory given back through the same allocator
    CHECK(more.size() == 10);

    const RecordBytes copy = big;  // a copy lives on the heap: it does not keep the arena alive
    CHECK(copy.get_allocator().arena() == nullptr);
    CHECK(!arena->owns(copy.data()));
    RecordBytes moved = std::move(big);  // a move keeps the arena's memory
    CHECK(arena->owns(moved.data()));
    CHECK(moved.get_allocator() == from_arena);
    RecordBytes assigned;
    assigned = std::move(small);  // move assignment takes the arena along (no element copy)
    CHECK(arena->owns(assigned.data()));
    CHECK(arena.use_count() > 1);  // held by the containers' allocators

    std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string mode;
    std::getline(thp, mode);
    if (mode.find("[madvise]") == std::string::npos && mode.find("[always]") == std::string::npos) return;
    const auto faults = [] {
        rusage u{};
        ::getrusage(RUSAGE_SELF, &u);
        return u.ru_minflt;
    };
    const auto fresh = detail::RecordArena::make(n);
    const long before = faults();
    RecordBytes filled(n, RecordAllocator<std::byte>(fresh));
    const long taken = faults() - before;
    CHECK(taken < static_cast<long>(n / 4096 / 16));  // 8,192 with 4 KiB pages; 16 huge ones
}
