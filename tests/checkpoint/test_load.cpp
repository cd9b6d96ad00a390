// checkpoint/load_checkpoint, load_param_into_net: MindSpore's filters, its exact not-loaded lists, the
// prefix fallback, dtype and shape conversion, and loads as transactions, on real MindSpore checkpoints;
// load_param_into_net(net, file) straight from the file, with the same answers and no dict.
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/mindsave.hpp"
#include "support/allocation_counter.hpp"
#include "support/file_bytes.hpp"
#include "support/shared_data.hpp"
#include "support/same_parameters.hpp"
#include "support/temp_dir.hpp"

using namespace mindsave;
namespace fs = std::filesystem;
using mindsave::testing::bytes_of;
using mindsave::testing::TempDir;
using mindsave::testing::write_bytes;

namespace {

fs::path fixture(const std::string& name) {
    return testing::require_shared("fixtures/mindspore/ckpt") / name;
}

using CellList = Sequential<Named<"cell_list", Sequential<Dense<2, 5>, Dense<5, 5>, Dense<5, 1>>>>;

struct WideModel {  // parameters wider than the files' values, more than one conversion chunk long
    xt::xtensor<std::int64_t, 1> counts = xt::zeros<std::int64_t>({1000});
    xt::xtensor<float, 1> scale = xt::zeros<float>({1000});
    template <class F>
    void visit_parameters(F&& f) {
        f(std::string_view("counts"), counts);
        f(std::string_view("scale"), scale);
    }
};

// 16 tensors of 1 MiB each.
struct BigModel {
    std::vector<xt::xtensor<float, 1>> t = std::vector<xt::xtensor<float, 1>>(16, xt::xtensor<float, 1>(xt::ones<float>({1u << 18})));
    std::vector<std::string> names = [] {
        std::vector<std::string> n;
        for (int i = 0; i < 16; ++i) n.push_back("t." + std::to_string(i));
        return n;
    }();
    template <class F>
    void visit_parameters(F&& f) {
        for (std::size_t i = 0; i < t.size(); ++i) f(std::string_view(names[i]), t[i]);
    }
};

// A digest of every parameter's bytes: equal before and after means the load changed nothing.
template <class Net>
std::uint32_t parameters_digest(Net& net) {
    RecordViews views;
    views.add_parameters(net);
    std::uint32_t crc = 0;
    for (const auto& v : views.views()) crc = io::crc32(v.data, io::crc32(std::as_bytes(std::span(v.name)), crc));
    return crc;
}

}  // namespace

TEST_CASE("a LeNet5 training checkpoint loads into LeNet5 with MindSpore's exact not-loaded lists", "[ckpt][fixture]") {
    const auto dict = load_checkpoint(fixture("xmu_ai_isp__checkpoint_lenet-1_1875.ckpt"));
    LeNet5<> net;
    const auto [param_not_load, ckpt_not_load] = load_param_into_net(net, dict);
    CHECK(param_not_load.empty());
    const std::vector<std::string> expected{
        "global_step",          "learning_rate",        "momentum",           "moments.conv1.weight",
        "moments.conv2.weight", "moments.fc1.weight",   "moments.fc1.bias",   "moments.fc2.weight",
        "moments.fc2.bias",     "moments.fc3.weight",   "moments.fc3.bias"};
    CHECK(ckpt_not_load == expected);
    CHECK(net.get<"conv1">().weight().value(0, 0, 0, 0) == Approx(0.14407966f));

    // The optimizer takes its own state from the same dict, as in the seeds.
    Momentum opt(net, 0.5f, 0.1f);
    const auto r = load_param_into_net(opt, dict);
    CHECK(r.param_not_load.empty());
    CHECK(r.ckpt_not_load.size() == 8);  // the network's weights
    CHECK(opt.learning_rate() == Approx(0.01f));
    CHECK(opt.momentum() == Approx(0.9f));
    CHECK(opt.global_step() == 0);

    // The 0.x-era file: no global_step, Float64 hyper-parameters converted within the float family.
    const auto old = load_checkpoint(fixture("mindarmour__checkpoint_lenet-10_1875.ckpt"));
    const auto r_old = load_param_into_net(opt, old);
    CHECK(r_old.param_not_load == std::vector<std::string>{"global_step"});
    CHECK(opt.learning_rate() == Approx(0.001f));
    CHECK_THROWS_WITH(load_param_into_net<match::strict>(opt, old),
                      Catch::Contains("learning_rate: dtype Float32 in the network, Float64 in the checkpoint") &&
                          Catch::Contains("momentum: dtype Float32"));
}

TEST_CASE("MindSpore's prefix fallback loads a wrapped cell's checkpoint; strict matching does not",
          "[ckpt][fixture][match]") {
    const auto dict = load_checkpoint(fixture("mindscience__example_net_10000.ckpt"));
    CellList net;
    const auto [param_not_load, ckpt_not_load] = load_param_into_net<match::suffix>(net, dict);
    CHECK(param_not_load.empty());
    CHECK(ckpt_not_load.size() == 22);  // entries loaded by the fallback stay listed, as in MindSpore
    const auto& w = dict.at("optimizer.network.cell_list.1.weight").as<float>();
    CHECK(std::equal(w.begin(), w.end(), net.get<"cell_list">().get<1>().weight().value.data()));

    CellList other;
    const auto strict = load_param_into_net<match::strict>(other, dict);
    CHECK(strict.param_not_load.size() == 6);
    const bool untouched = other.get<"cell_list">().get<1>().weight().value == CellList().get<"cell_list">().get<1>().weight().value;
    CHECK(untouched);
    CHECK_THROWS_WITH(load_param_into_net<match::strict>(other, dict, {.require_all = true}),
                      Catch::Contains("cell_list.0.weight: not in the checkpoint (did you mean "
                                      "'optimizer.network.cell_list.0.weight'? a prefix differs: load with match::suffix)"));
}

TEST_CASE("a load is a transaction: every problem reported at once, nothing changed", "[ckpt][match]") {
    LeNet5<> net(3);
    const Tensor before = net.get<"fc1">().weight().value;
    ParameterDict dict;
    dict.insert_or_assign(TensorRecord::from_tensor("fc1.weight", xt::xtensor<float, 2>(xt::ones<float>({120, 400}))));
    dict.insert_or_assign(TensorRecord::from_tensor("fc3.weight", xt::xtensor<float, 2>(xt::ones<float>({1000, 84}))));
    dict.insert_or_assign(TensorRecord::from_tensor("fc3.bias", xt::xtensor<std::int32_t, 1>(xt::ones<std::int32_t>({10}))));
    dict.insert_or_assign(TensorRecord::from_tensor("fc2.wieght", xt::xtensor<float, 2>(xt::ones<float>({84, 120}))));
    try {
        load_param_into_net(net, dict, {.require_all = true});
        FAIL("no exception");
    } catch (const ParameterError& e) {
        const std::string msg = e.what();
        CHECK_THAT(msg, Catch::Contains("nothing was loaded"));
        CHECK_THAT(msg, Catch::Contains("fc3.weight: shape [10, 84] in the network, [1000, 84] in the checkpoint"));
        CHECK_THAT(msg, Catch::Contains("fc3.bias: dtype Float32 in the network, Int32 in the checkpoint"));
        CHECK_THAT(msg, Catch::Contains("fc2.weight: not in the checkpoint (did you mean 'fc2.wieght'?)"));
        CHECK_THAT(msg, Catch::Contains("conv1.weight: not in the checkpoint"));
    }
    const bool unchanged = net.get<"fc1">().weight().value == before;
    CHECK(unchanged);  // fc1.weight fitted, but the plan was refused as a whole
}

TEST_CASE("trailing size-1 dims are dropped and floats convert within their family", "[ckpt][match]") {
    Dense<4, 3> dense;
    ParameterDict dict;
    TensorRecord w = TensorRecord::from_tensor("weight", xt::xtensor<double, 2>(xt::ones<double>({3, 4}) * 0.5));
    w.shape = {3, 4, 1, 1};
    dict.insert_or_assign(w);
    TensorRecord b = TensorRecord::from_tensor("bias", xt::xtensor<std::uint16_t, 1>(xt::ones<std::uint16_t>({3})));
    b.dtype = DType::Float16;
    for (auto& h : b.as<float16>()) h = float16::from_float(-2.0f);
    dict.insert_or_assign(b);
    const auto r = load_param_into_net(dense, dict);
    CHECK(r.param_not_load.empty());
    CHECK(dense.weight().value(2, 3) == 0.5f);
    CHECK(dense.bias().value(1) == -2.0f);
    CHECK_THROWS_AS(load_param_into_net<match::strict>(dense, dict), ParameterError);
}

TEST_CASE("integers and floats convert within their family element by element, past any chunk size", "[ckpt][match]") {
    xt::xtensor<std::int32_t, 1> counts = xt::zeros<std::int32_t>({1000});
    xt::xtensor<double, 1> scale = xt::zeros<double>({1000});
    for (std::size_t i = 0; i < 1000; ++i) {
        counts(i) = static_cast<std::int32_t>(i * 2654435761u);  // large and negative values too
        scale(i) = 1.0 / (1.0 + static_cast<double>(i));
    }
    ParameterDict dict;
    dict.insert_or_assign(TensorRecord::from_tensor("counts", counts));
    dict.insert_or_assign(TensorRecord::from_tensor("scale", scale));
    WideModel m;
    CHECK(load_param_into_net(m, dict).param_not_load.empty());
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < 1000; ++i)
        wrong += m.counts(i) != std::int64_t{counts(i)} || m.scale(i) != static_cast<float>(scale(i));
    CHECK(wrong == 0);
}

TEST_CASE("load_checkpoint filters by prefix or choice_func as MindSpore does", "[ckpt]") {
    const auto path = fixture("xmu_ai_isp__checkpoint_lenet-1_1875.ckpt");
    CHECK(load_checkpoint(path, {.filter_prefix = {"moments."}}).size() == 11);
    CHECK(load_checkpoint(path, {.filter_prefix = {"moments.", "global"}}).size() == 10);
    CHECK(load_checkpoint(path, {.specify_prefix = {"conv"}}).keys() ==
          std::vector<std::string>{"conv1.weight", "conv2.weight"});
    const auto chosen = load_checkpoint(path, {.choice_func = [](std::string_view n) { return n.starts_with("fc3"); }});
    CHECK(chosen.keys() == std::vector<std::string>{"fc3.weight", "fc3.bias"});
    // a prefix argument overrides choice_func
    CHECK(load_checkpoint(path, {.specify_prefix = {"fc1"}, .choice_func = [](std::string_view) { return false; }})
              .size() == 2);
    CHECK_THROWS_WITH(load_checkpoint(path, {.specify_prefix = {"nothing"}}), Catch::Contains("empty after filter"));
    TempDir dir("ckpt");
    write_bytes(dir / "empty.ckpt", {});
    CHECK_THROWS_WITH(load_checkpoint(dir / "empty.ckpt"), Catch::Contains("empty.ckpt: the file holds no parameters"));
    CHECK_THROWS_AS(load_checkpoint(path, {.filter_prefix = {""}}), ConfigError);
    LeNet5<> net, net2;
    const auto dict = load_checkpoint(path, net);  // with a net: loaded into it as well
    CHECK(dict.size() == 19);
    CHECK(net.get<"fc3">().bias().value(0) == dict.at("fc3.bias").as<float>()[0]);
    load_checkpoint(path, {.net = net2, .strict_load = true});  // MindSpore's spelling
    CHECK(net2.get<"fc3">().bias().value(0) == dict.at("fc3.bias").as<float>()[0]);
    Momentum opt(net2, 0.5f, 0.5f);
    const auto old = fixture("mindarmour__checkpoint_lenet-10_1875.ckpt");
    CHECK_THROWS_AS(load_checkpoint(old, {.net = opt, .strict_load = true}), ParameterError);  // Float64 lr
    CHECK_NOTHROW(load_checkpoint(old, {.net = opt}));
}

TEST_CASE("a dict loaded from a file can be edited and saved again", "[ckpt]") {
    TempDir dir("ckpt");
    auto dict = load_checkpoint(fixture("xmu_ai_isp__checkpoint_lenet-1_1875.ckpt"));
    CHECK(dict.erase("fc3.weight"));
    CHECK_FALSE(dict.erase("fc3.weight"));
    dict.at("fc3.bias").as<float>()[0] = 42.0f;
    dict.insert_or_assign(NamedValue("epoch_num", 3));
    save_checkpoint(dict, dir / "edited");
    const auto back = load_checkpoint(dir / "edited.ckpt");
    CHECK(back.size() == 19);
    CHECK_FALSE(back.contains("fc3.weight"));
    CHECK(back.at("fc3.bias").as<float>()[0] == 42.0f);
    CHECK(back.at("epoch_num").dtype == DType::Int64);
    CHECK(back.keys().back() == "epoch_num");
}

TEST_CASE("load_param_into_net(net, file) gives what load_checkpoint and load_param_into_net(net, dict) give",
          "[ckpt][fixture][direct]") {
    for (const auto& path : testing::ckpt_fixtures()) {
        INFO(path.filename());
        const auto dict = load_checkpoint(path);
        LeNet5<> via_dict(1), direct(1);
        if (!dict.contains("conv1.weight")) {  // not a LeNet5: both ways report the same lists (or refuse alike)
            CellList a, b;
            std::string dict_error, direct_error;
            LoadResult x, y;
            try { x = load_param_into_net(a, dict); } catch (const Error& e) { dict_error = e.what(); }
            try { y = load_param_into_net(b, path); } catch (const Error& e) { direct_error = e.what(); }
            CHECK(direct_error == dict_error);
            CHECK(x.param_not_load == y.param_not_load);
            CHECK(x.ckpt_not_load == y.ckpt_not_load);
            testing::check_same_parameters(a, b);
            continue;
        }
        const auto expected = load_param_into_net(via_dict, dict);
        const auto got = load_param_into_net(direct, path);
        CHECK(got.param_not_load == expected.param_not_load);
        CHECK(got.ckpt_not_load == expected.ckpt_not_load);
        testing::check_same_parameters(via_dict, direct);
        Momentum opt_dict(via_dict, 0.5f, 0.1f), opt_direct(direct, 0.5f, 0.1f);
        load_param_into_net(opt_dict, dict);
        load_param_into_net<match::suffix, format::ckpt>(opt_direct, path, {.crc_check = true});
        testing::check_same_parameters(opt_dict, opt_direct);
    }
}

TEST_CASE("a direct load takes split tensors, filters and conversions as the dict path does", "[ckpt][direct]") {
    TempDir dir("direct");
    LeNet5<> source(5);
    Momentum opt(source, 0.01f, 0.9f);
    save_checkpoint(train_network(source, opt), dir / "split.ckpt", {.crc_check = true, .slice_bytes = 1000});
    LeNet5<> net(6);
    const auto r = load_param_into_net<match::strict>(net, dir / "split.ckpt", {.crc_check = true});
    CHECK(r.param_not_load.empty());
    CHECK(r.ckpt_not_load.size() == 11);  // moments.*, learning_rate, momentum, global_step
    testing::check_same_parameters(source, net);

    LeNet5<> filtered(6);
    const Tensor fc3_before = filtered.get<"fc3">().weight().value;
    const auto f = load_param_into_net(filtered, dir / "split.ckpt", {.filter_prefix = {"fc3.", "moments."}});
    CHECK(f.param_not_load == std::vector<std::string>{"fc3.weight", "fc3.bias"});
    const bool fc3_kept = filtered.get<"fc3">().weight().value == fc3_before;
    CHECK(fc3_kept);
    const bool fc1_loaded = filtered.get<"fc1">().weight().value == source.get<"fc1">().weight().value;
    CHECK(fc1_loaded);
    CHECK_THROWS_WITH(load_param_into_net(filtered, dir / "split.ckpt", {.specify_prefix = {"nothing."}}),
                      Catch::Contains("split.ckpt") && Catch::Contains("empty after filter"));

    // Float64 and Int32 in the file, Float32 and Int64 in the network: converted, as from a dict
    xt::xtensor<std::int32_t, 1> counts = xt::zeros<std::int32_t>({1000});
    xt::xtensor<double, 1> scale = xt::zeros<double>({1000});
    for (std::size_t i = 0; i < 1000; ++i) {
        counts(i) = static_cast<std::int32_t>(i * 2654435761u);
        scale(i) = 1.0 / (1.0 + static_cast<double>(i));
    }
    save_checkpoint(std::vector<NamedValue>{{"counts", counts}, {"scale", scale}}, dir / "wide.ckpt");
    WideModel from_file, from_dict;
    load_param_into_net(from_file, dir / "wide.ckpt");
    load_param_into_net(from_dict, load_checkpoint(dir / "wide.ckpt"));
    testing::check_same_parameters(from_file, from_dict);
    CHECK(from_file.counts(999) == std::int64_t{counts(999)});
    CHECK_THROWS_AS(load_param_into_net<match::strict>(from_file, dir / "wide.ckpt"), ParameterError);
    CHECK_THROWS_AS(load_param_into_net(net, dir / "split.ckpt", {.net = net}), ConfigError);
}

TEST_CASE("a direct load that fails leaves every parameter byte-identical", "[ckpt][direct][hostile]") {
    TempDir dir("direct");
    LeNet5<> source(5);
    save_checkpoint(source, dir / "good.ckpt", {.crc_check = true});
    const auto good = bytes_of(dir / "good.ckpt");
    LeNet5<> net(9);
    const auto before = parameters_digest(net);

    // cut in the middle of fc1.weight's bytes (the largest tensor): found while planning, before any write
    const auto fc1 = std::string_view(good.data(), good.size()).find("fc1.weight");
    REQUIRE(fc1 != std::string_view::npos);
    write_bytes(dir / "cut.ckpt", std::span(good).first(fc1 + 5000));
    CHECK_THROWS_AS(load_param_into_net(net, dir / "cut.ckpt"), FormatError);
    CHECK_THROWS_WITH(load_param_into_net(net, dir / "cut.ckpt"), Catch::Contains("cut.ckpt") && Catch::Contains("fc1.weight"));
    CHECK(parameters_digest(net) == before);

    // one tensor byte changed: the CRC is checked before anything is written
    auto flipped = good;
    flipped[fc1 + 3000] ^= 0x40;
    write_bytes(dir / "flipped.ckpt", flipped);
    CHECK_THROWS_WITH(load_param_into_net(net, dir / "flipped.ckpt", {.crc_check = true}), Catch::Contains("CRC-32 check failed"));
    CHECK(parameters_digest(net) == before);

    // a shape that does not fit: one ParameterError, nothing written
    LeNet5<> other_source(1);
    save_checkpoint(std::vector<NamedValue>{{"fc1.weight", xt::xtensor<float, 2>(xt::ones<float>({120, 401}))},
                                            {"conv1.weight", xt::xtensor<float, 4>(xt::ones<float>({6, 1, 5, 5}))}},
                    dir / "shape.ckpt");
    CHECK_THROWS_WITH(load_param_into_net(net, dir / "shape.ckpt"),
                      Catch::Contains("fc1.weight: shape [120, 400] in the network, [120, 401] in the checkpoint") &&
                          Catch::Contains("nothing was loaded"));
    CHECK(parameters_digest(net) == before);

    // safetensors: a tensor byte changed is caught by crc_num before anything is written; a cut file at once
    save_checkpoint<format::safetensors>(source, dir / "good", {.crc_check = true});
    auto st = bytes_of(dir / "good.safetensors");
    st[st.size() - 100] ^= 0x01;
    write_bytes(dir / "flipped.safetensors", st);
    CHECK_THROWS_WITH(load_param_into_net(net, dir / "flipped.safetensors", {.crc_check = true}),
                      Catch::Contains("flipped.safetensors") && Catch::Contains("CRC-32 check failed"));
    write_bytes(dir / "cut.safetensors", std::span(st).first(st.size() - 100));
    CHECK_THROWS_AS(load_param_into_net(net, dir / "cut.safetensors"), FormatError);
    CHECK(parameters_digest(net) == before);
}

TEST_CASE("a direct load allocates nothing in proportion to the file", "[ckpt][direct][alloc]") {
    TempDir dir("direct");
    // a dict load allocates each tensor; a direct load reads them into the model's memory
    BigModel source, loaded;
    for (std::size_t i = 0; i < source.t.size(); ++i) source.t[i] *= static_cast<float>(i + 1);
    save_checkpoint(source, dir / "big.ckpt");
    save_checkpoint<format::safetensors>(source, dir / "big");
    for (const auto* name : {"big.ckpt", "big.safetensors"}) {
        INFO(name);
        BigModel into;
        testing::reset_largest_allocation();
        load_param_into_net(into, dir / name);
        const auto largest = testing::largest_allocation_since_reset();
        testing::check_same_parameters(source, into);
        CHECK(largest <= (std::size_t{64} << 10));  // a header window and the plan, not a tensor
    }
    testing::reset_largest_allocation();
    load_param_into_net(loaded, load_checkpoint(dir / "big.ckpt", {.crc_check = true}));
    // the check can fail: a dict read into heap records does (a large one without crc_check takes an arena instead)
    CHECK(testing::largest_allocation_since_reset() >= (std::size_t{1} << 20));
}

TEST_CASE("load_checkpoint_async gives load_checkpoint's dict, or its error, through a future", "[ckpt][async]") {
    TempDir dir("async_load");
    LeNet5<> source(5);
    save_checkpoint(source, dir / "lenet.ckpt");
    auto pending = load_checkpoint_async(dir / "lenet.ckpt", {.filter_prefix = {"fc3."}});
    auto missing = load_checkpoint_async(dir / "missing.ckpt");
    LeNet5<> net(6);
    auto into_net = load_checkpoint_async<format::ckpt>(dir / "lenet.ckpt", {.net = net});
    const ParameterDict dict = pending.get();
    CHECK(dict.keys() == load_checkpoint(dir / "lenet.ckpt", {.filter_prefix = {"fc3."}}).keys());
    CHECK_THROWS_AS(missing.get(), FileError);
    into_net.get();
    testing::check_same_parameters(source, net);
}
