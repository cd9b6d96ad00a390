// checkpoint/ and formats/ckpt: MindSpore's .ckpt read and written byte for byte, load_checkpoint's
// filters, load_param_into_net's matching (MindSpore's lists, exactly), transactions, hostile input.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"
#include "mindsave/mindsave.hpp"
#include "support/shared_data.hpp"

using namespace mindsave;
namespace fs = std::filesystem;

namespace {

using mindsave::testing::TempDir;

std::vector<char> bytes_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
void write_bytes(const fs::path& p, const std::vector<char>& b) {
    fs::remove(p);
    std::ofstream out(p, std::ios::binary);
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
}

fs::path fixture(const std::string& name) {
    return testing::require_shared("fixtures/mindspore/ckpt") / name;
}

// Top-level records of a .ckpt, counted without mindsave's reader (pieces of split tensors separately).
std::size_t raw_record_count(const fs::path& p) {
    const auto b = bytes_of(p);
    std::span<const std::byte> s(reinterpret_cast<const std::byte*>(b.data()), b.size());
    if (s.size() >= 17 && std::memcmp(s.data() + s.size() - 17, "crc_num", 7) == 0) s = s.first(s.size() - 17);
    io::WireReader r(s);
    std::size_t n = 0;
    while (!r.at_end()) {
        io::WireType t;
        r.key(t);
        r.bytes();
        ++n;
    }
    return n;
}

using CellList = Sequential<Named<"cell_list", Sequential<Dense<2, 5>, Dense<5, 5>, Dense<5, 1>>>>;

}  // namespace

TEST_CASE("every real MindSpore checkpoint loads, mapped and copied alike", "[ckpt][fixture]") {
    const std::pair<const char*, std::size_t> files[] = {
        {"xmu_ai_isp__checkpoint_lenet-1_1875.ckpt", 19}, {"mindarmour__checkpoint_lenet-10_1875.ckpt", 18},
        {"nsu_huawei__LinearNet_17_step.ckpt", 2},       {"mindscience__example_net_10000.ckpt", 22},
        {"mindscience__spectralconv1d.ckpt", 2},         {"mindscience__idm_model_epoch_5000.ckpt", 37},
        {"golden_stick__llama2_tiny_fp16_rank0.ckpt", 12}};
    for (auto [name, count] : files) {
        INFO(name);
        const auto path = fixture(name);
        const auto dict = load_checkpoint(path);
        CHECK(dict.size() == count);
        const format::ckpt::Mapped mapped(path);
        REQUIRE(mapped.records().size() == count);
        const auto file = mapped.bytes();
        for (const auto& r : mapped.records()) {  // views point into the mapping: zero copy
            CHECK(r.data.data() >= file.data());
            CHECK(r.data.data() + r.data.size() <= file.data() + file.size());
            CHECK(dict.at(r.name).data.size() == r.data.size());
        }
    }
    const auto llama = load_checkpoint(fixture("golden_stick__llama2_tiny_fp16_rank0.ckpt"));
    CHECK(llama.at("model.tok_embeddings.embedding_weight").dtype == DType::Float16);
    CHECK(llama.at("model.tok_embeddings.embedding_weight").shape == Shape{32000, 40});
    CHECK(llama.at("model.norm_out.weight").dtype == DType::Float32);
    const auto spectral = load_checkpoint(fixture("mindscience__spectralconv1d.ckpt"));
    CHECK(spectral.at("_w_re").shape == Shape{2, 2, 2});
}

TEST_CASE("re-saving a real checkpoint with its writer generation reproduces it byte for byte", "[ckpt][fixture]") {
    TempDir dir("ckpt");
    for (const auto& path : testing::ckpt_fixtures()) {
        INFO(path.filename());
        const auto dict = load_checkpoint(path);
        // MindSpore <= 2.2 wrote 0-d values as dims [0], >= 2.3 with no dims: one of the two writers is the file's
        bool reproduced = false;
        for (const auto writer : {format::ckpt::Writer::v2_2, format::ckpt::Writer::v2_3}) {
            const auto out = dir / (std::string(writer == format::ckpt::Writer::v2_2 ? "v22_" : "v23_") +
                                    path.filename().string());
            save_checkpoint(dict, out, {.writer = writer});
            reproduced = reproduced || bytes_of(out) == bytes_of(path);
            CHECK(format::ckpt::serialized_size(format::ckpt::Mapped(out).records(), {.writer = writer}) ==
                  fs::file_size(out));
        }
        CHECK(reproduced);
    }
}

TEST_CASE("a real damaged checkpoint (bytes mangled by a text encoder) is refused by every reader, naming the file",
          "[ckpt][fixture][hostile]") {
    const auto damaged = testing::ckpt_fixtures(/*damaged=*/true);
    REQUIRE_FALSE(damaged.empty());
    for (const auto& path : damaged) {
        INFO(path.filename());
        const std::string name = path.filename().string();
        CHECK_THROWS_AS(format::ckpt::read(path), FormatError);
        CHECK_THROWS_WITH(format::ckpt::read(path), Catch::Contains(name) && Catch::Contains("runs past the end"));
        CHECK_THROWS_AS(format::ckpt::Mapped(path), FormatError);
        CHECK_THROWS_WITH(format::ckpt::Mapped(path), Catch::Contains(name));
        CHECK_THROWS_AS(load_checkpoint(path), FormatError);
        CHECK_THROWS_WITH(load_checkpoint(path), Catch::Contains(name));
        const auto bytes = io::read_whole_file(path);
        CHECK_FALSE(format::detail::stream_ckpt(format::detail::MemorySource{bytes}, bytes.size(), true).has_value());
    }
}

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

namespace {
struct WideModel {  // parameters wider than the files' values, more than one conversion chunk long
    xt::xtensor<std::int64_t, 1> counts = xt::zeros<std::int64_t>({1000});
    xt::xtensor<float, 1> scale = xt::zeros<float>({1000});
    template <class F>
    void visit_parameters(F&& f) {
        f(std::string_view("counts"), counts);
        f(std::string_view("scale"), scale);
    }
};
}  // namespace

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

TEST_CASE("a list of {name, value} saves scalars, strings and tensors as MindSpore's Tensor(value) would",
          "[ckpt]") {
    TempDir dir("ckpt");
    xt::xtensor<float, 2> w = {{1, 2, 3}, {4, 5, 6}};
    save_checkpoint(std::vector<NamedValue>{{"epoch", 10},
                                            {"lr", 0.01},
                                            {"flag", true},
                                            {"note", "Grüße, 世界"},
                                            {"w", w},
                                            TensorRecord::scalar<double>("lr64", 0.01)},
                    dir / "values.ckpt", {.append_dict = {{"step_num", 1875}, {"tag", "final"}}});
    const auto d = load_checkpoint(dir / "values.ckpt");
    CHECK(d.keys() == std::vector<std::string>{"epoch", "lr", "flag", "note", "w", "lr64", "step_num", "tag"});
    CHECK(d.at("epoch").dtype == DType::Int64);
    CHECK(d.at("epoch").shape.empty());
    CHECK(d.at("epoch").as<std::int64_t>()[0] == 10);
    CHECK(d.at("lr").dtype == DType::Float32);
    CHECK(d.at("flag").dtype == DType::Bool);
    CHECK(d.at("note").is_string());
    CHECK(*d.at("note").text == "Grüße, 世界");
    CHECK(d.at("w").shape == Shape{2, 3});
    CHECK(d.at("w").as<float>()[5] == 6.0f);
    CHECK(d.at("lr64").dtype == DType::Float64);
    CHECK(*d.at("tag").text == "final");
}

TEST_CASE("save_checkpoint appends .ckpt, leaves the file read-only, and filters with choice_func", "[ckpt]") {
    TempDir dir("ckpt");
    LeNet5<> net;
    save_checkpoint(net, dir / "lenet", {.append_dict = {{"epoch_num", 1}},
                                         .choice_func = [](std::string_view n) { return n.starts_with("conv"); }});
    REQUIRE(fs::exists(dir / "lenet.ckpt"));
    CHECK((fs::status(dir / "lenet.ckpt").permissions() & fs::perms::all) == fs::perms::owner_read);
    CHECK(load_checkpoint(dir / "lenet.ckpt").keys() ==
          std::vector<std::string>{"conv1.weight", "conv2.weight", "epoch_num"});
    save_checkpoint(net, dir / "lenet.ckpt");  // overwriting a read-only checkpoint works, atomically
    CHECK(load_checkpoint(dir / "lenet.ckpt").size() == 8);
    std::size_t leftovers = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) leftovers += e.path().string().ends_with(".tmp");
    CHECK(leftovers == 0);
    CHECK_THROWS_AS(save_checkpoint(net, dir.path), FileError);  // a directory
    CHECK_THROWS_WITH(save_checkpoint(net, dir / "missing/lenet.ckpt"), Catch::Contains("missing/lenet.ckpt"));
}

TEST_CASE("the optimizer's state round-trips through a train-network checkpoint", "[ckpt]") {
    TempDir dir("ckpt");
    LeNet5<> net(5);
    Momentum opt(net, 0.02f, 0.8f);
    SoftmaxCrossEntropyWithLogits<> loss;
    Model model(net, loss, opt);
    Generator g(1);
    Batch batch{Tensor::from_shape({4, 1, 32, 32}), Labels::from_shape({4})};
    for (auto& v : batch.images) v = static_cast<float>(g.normal());
    for (auto& l : batch.labels) l = static_cast<std::int32_t>(g.below(10));
    for (int i = 0; i < 3; ++i) model.train_step(batch);
    auto train = train_network(net, opt);
    save_checkpoint(train, dir / "train.ckpt");

    LeNet5<> net2(9);
    Momentum opt2(net2, 0.5f, 0.5f);
    const auto dict = load_checkpoint(dir / "train.ckpt");
    CHECK(load_param_into_net(net2, dict).param_not_load.empty());
    CHECK(load_param_into_net(opt2, dict).param_not_load.empty());
    CHECK(opt2.global_step() == 3);
    CHECK(opt2.learning_rate() == 0.02f);
    // identical state: the next step gives identical weights
    Model model2(net2, loss, opt2);
    model.train_step(batch);
    model2.train_step(batch);
    const bool same = net.get<"conv2">().weight().value == net2.get<"conv2">().weight().value;
    CHECK(same);
}

TEST_CASE("tensors larger than the slice size are split into same-tag records and joined on read", "[ckpt]") {
    TempDir dir("ckpt");
    xt::xtensor<float, 2> big = xt::arange<float>(0, 1000).reshape({10, 100});
    for (auto writer : {format::ckpt::Writer::v2_2, format::ckpt::Writer::v2_3}) {
        const auto path = dir / (writer == format::ckpt::Writer::v2_2 ? "old.ckpt" : "new.ckpt");
        save_checkpoint(std::vector<NamedValue>{{"big", big}, {"s", 1}}, path,
                        {.writer = writer, .slice_bytes = 1500});  // 4000 bytes -> 3 pieces
        CHECK(raw_record_count(path) == 4);
        const auto d = load_checkpoint(path);
        REQUIRE(d.size() == 2);
        CHECK(d.at("big").shape == Shape{10, 100});
        const auto v = d.at("big").as<float>();
        CHECK(std::equal(v.begin(), v.end(), big.data()));
    }
}

TEST_CASE("the CRC footer is written as MindSpore's and a mismatch is caught when checked", "[ckpt][crc]") {
    TempDir dir("ckpt");
    LeNet5<> net;
    save_checkpoint(net, dir / "crc.ckpt", {.crc_check = true});
    auto bytes = bytes_of(dir / "crc.ckpt");
    REQUIRE(bytes.size() > 17);
    CHECK(std::string(bytes.end() - 17, bytes.end() - 10) == "crc_num");
    CHECK(std::all_of(bytes.end() - 10, bytes.end() - 4, [](char c) { return c == 0; }));
    const auto body = std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size() - 17);
    std::uint32_t stored = 0;
    for (int i = 4; i > 0; --i) stored = (stored << 8) | static_cast<std::uint8_t>(*(bytes.end() - i));
    CHECK(io::crc32(body) == stored);
    CHECK(io::crc32(std::as_bytes(std::span("123456789", 9))) == 0xCBF43926u);  // the standard check value
    CHECK(load_checkpoint(dir / "crc.ckpt", {.crc_check = true}).size() == 8);

    bytes[bytes.size() / 2] ^= 0x01;  // inside a tensor's content: framing still parses
    write_bytes(dir / "bad.ckpt", bytes);
    CHECK_NOTHROW(load_checkpoint(dir / "bad.ckpt"));
    CHECK_THROWS_WITH(load_checkpoint(dir / "bad.ckpt", {.crc_check = true}),
                      Catch::Contains("bad.ckpt") && Catch::Contains("CRC-32 check failed"));
}

TEST_CASE("hostile files get a FormatError naming the file and record, never a crash", "[ckpt][hostile]") {
    TempDir dir("ckpt");
    save_checkpoint(std::vector<NamedValue>{{"a", xt::xtensor<float, 1>{1, 2, 3}}, {"b", 7}, {"c", "text"}},
                    dir / "good.ckpt", {.crc_check = true});
    const auto good = bytes_of(dir / "good.ckpt");
    const auto probe = dir / "probe.ckpt";
    auto outcome = [&](const std::vector<char>& b, bool crc) -> std::string {
        write_bytes(probe, b);
        try {
            load_checkpoint(probe, {.crc_check = crc});
            return "ok";
        } catch (const FormatError& e) {
            if (std::string(e.what()).find("probe.ckpt") == std::string::npos) return "unnamed";
            return "format";
        } catch (const ParameterError&) {
            return "empty";
        } catch (const std::exception& e) {
            return std::string("other: ") + e.what();
        }
    };
    for (std::size_t cut = 0; cut < good.size(); ++cut) {
        INFO("cut at " << cut);
        const auto r = outcome({good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)}, false);
        CHECK((r == "ok" || r == "format" || r == "empty"));
    }
    for (std::size_t i = 0; i < good.size(); ++i) {
        for (char flip : {char(0x01), char(0x80), char(0xff)}) {
            auto b = good;
            b[i] ^= flip;
            INFO("flip " << int(flip) << " at " << i);
            const auto plain = outcome(b, false);
            CHECK((plain == "ok" || plain == "format" || plain == "empty"));
            const auto checked = outcome(b, true);
            CHECK((checked == "format" || checked == "empty" || (checked == "ok" && i >= good.size() - 17)));
        }
    }
    // A length past the end, dims whose product overflows, an unknown tensor_type.
    const std::vector<char> past_end = {0x0a, 0x7f, 0x0a, 0x01, 'x'};
    CHECK_THROWS_WITH((write_bytes(probe, past_end), load_checkpoint(probe)),
                      Catch::Contains("probe.ckpt") && Catch::Contains("runs past the end"));
    auto record = [](const std::vector<char>& tensor) {  // one Checkpoint.value named "x" around a TensorProto
        std::string value = std::string("\x0a\x01x\x12", 4) + static_cast<char>(tensor.size());
        value.append(tensor.data(), tensor.size());
        const std::string out = std::string(1, '\x0a') + static_cast<char>(value.size()) + value;
        return std::vector<char>(out.begin(), out.end());
    };
    const std::string dim_2_to_35 = std::string("\x08\x80\x80\x80\x80\x80\x01", 7);  // dims 2^35, three times
    const std::string huge = dim_2_to_35 + dim_2_to_35 + dim_2_to_35 + std::string("\x12\x07" "Float32" "\x1a\x00", 11);
    CHECK_THROWS_WITH((write_bytes(probe, record({huge.begin(), huge.end()})), load_checkpoint(probe)),
                      Catch::Contains("record 0 ('x')") && Catch::Contains("overflows"));
    const std::vector<char> complex = {0x12, 0x09, 'C', 'o', 'm', 'p', 'l', 'e', 'x', '6', '4', 0x1a, 0x00};
    CHECK_THROWS_WITH((write_bytes(probe, record(complex)), load_checkpoint(probe)),
                      Catch::Contains("unknown tensor_type 'Complex64'") && Catch::Contains("record 0 ('x')"));
    CHECK_THROWS_AS(load_checkpoint(dir / "absent.ckpt"), FileError);
}

namespace {

// What parsing the whole file gives (the reference the streaming read of small files must match).
std::vector<TensorRecord> parsed(const fs::path& p, bool crc_check = false) {
    const auto bytes = io::read_whole_file(p);
    return copy_records(format::ckpt::parse(bytes, p, {.crc_check = crc_check}).records());
}

// ckpt::read's result or error, as text, beside the same for parse over the file's bytes.
std::pair<std::string, std::string> read_and_parse_outcomes(const fs::path& p, bool crc_check) {
    auto outcome = [](auto&& read) -> std::string {
        try {
            return "ok: " + std::to_string(read().size()) + " records";
        } catch (const FormatError& e) {
            return std::string("FormatError: ") + e.what();
        } catch (const std::exception& e) {
            return std::string("other: ") + e.what();
        }
    };
    return {outcome([&] { return format::ckpt::read(p, {.crc_check = crc_check}); }),
            outcome([&] { return parsed(p, crc_check); })};
}

}  // namespace

TEST_CASE("MappedFile holds a file's exact bytes whether it reads a small file or maps a larger one", "[io]") {
    TempDir dir("ckpt");
    constexpr std::size_t limit = io::MappedFile::small_file;
    for (const std::size_t size : {std::size_t{1}, std::size_t{4096}, limit, limit + 1, 3 * limit + 7}) {
        INFO("size " << size);
        std::vector<char> bytes(size);
        for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + size) >> 3);
        write_bytes(dir / "f.bin", bytes);
        io::MappedFile file(dir / "f.bin");
        const io::MappedFile moved(std::move(file));  // the bytes move with the object, read or mapped
        REQUIRE(moved.bytes().size() == size);
        CHECK(std::memcmp(moved.bytes().data(), bytes.data(), size) == 0);
        CHECK(moved.path() == dir / "f.bin");
    }
    write_bytes(dir / "empty.bin", {});
    CHECK(io::MappedFile(dir / "empty.bin").bytes().empty());
    CHECK_THROWS_WITH(io::MappedFile(dir.path), Catch::Contains("is a directory"));
    CHECK_THROWS_WITH(io::MappedFile(dir / "missing.bin"), Catch::Contains("does not exist"));
}

TEST_CASE("a small .ckpt is read without a map into exactly the records parsing the whole file gives",
          "[ckpt][stream]") {
    TempDir dir("ckpt");
    LeNet5<> net(3);
    Momentum opt(net, 0.01f, 0.9f);
    save_checkpoint(train_network(net, opt), dir / "train_crc.ckpt", {.crc_check = true});
    save_checkpoint(std::vector<NamedValue>{{"epoch", 10}, {"note", "Grüße"}, {"w", xt::xtensor<float, 2>{{1, 2}, {3, 4}}},
                                            {"empty", xt::xtensor<float, 1>::from_shape({0})}},
                    dir / "legacy.ckpt", {.writer = format::ckpt::Writer::v2_2});
    save_checkpoint(std::vector<NamedValue>{{"big", xt::xtensor<float, 1>(xt::arange<float>(0, 100))}, {"s", 1}},
                    dir / "split.ckpt", {.slice_bytes = 64});
    for (const auto* name : {"train_crc.ckpt", "legacy.ckpt", "split.ckpt"}) {
        INFO(name);
        const auto path = dir / name;
        const auto bytes = io::read_whole_file(path);
        const auto reference = parsed(path);
        // small windows make record headers and tensors cross the window's end
        for (const std::size_t window : {std::size_t{17}, std::size_t{64}, std::size_t{1000}, format::detail::ckpt_stream_window}) {
            INFO("window " << window);
            for (const bool crc : {false, true}) {
                const auto streamed = format::detail::stream_ckpt(format::detail::MemorySource{bytes}, bytes.size(), crc, window);
                // the layout our writer and MindSpore's make takes the streaming read; split tensors do not
                if (window == format::detail::ckpt_stream_window) CHECK(streamed.has_value() == (std::string(name) != "split.ckpt"));
                if (streamed) CHECK(*streamed == reference);
            }
        }
        CHECK(format::ckpt::read(path) == reference);
        CHECK(format::ckpt::read(path, {.crc_check = true}) == reference);
        CHECK(format::any::read(path) == reference);
        const auto dict = load_checkpoint(path);
        CHECK(std::vector<TensorRecord>(dict.begin(), dict.end()) == reference);
    }
    CHECK(format::ckpt::read(dir / "split.ckpt")[0].shape == Shape{100});  // joined by the mapped parse
    CHECK(load_checkpoint(dir / "train_crc.ckpt", {.filter_prefix = {"moments."}}).keys() ==
          std::vector<std::string>{"conv1.weight", "conv2.weight", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                                   "fc3.weight", "fc3.bias", "global_step", "learning_rate", "momentum"});
    CHECK(format::ckpt::read(dir / "legacy.ckpt").size() == 4);
}

TEST_CASE("every real MindSpore checkpoint takes the streaming read and gives the parsed records", "[ckpt][stream][fixture]") {
    for (const auto& path : testing::ckpt_fixtures()) {
        INFO(path.filename());
        const auto bytes = io::read_whole_file(path);
        const auto streamed = format::detail::stream_ckpt(format::detail::MemorySource{bytes}, bytes.size(), true);
        REQUIRE(streamed.has_value());
        CHECK(*streamed == parsed(path));
        CHECK(format::ckpt::read(path) == *streamed);
    }
}

TEST_CASE("a truncated or damaged small .ckpt raises the parse's FormatError word for word", "[ckpt][stream][hostile]") {
    TempDir dir("ckpt");
    save_checkpoint(std::vector<NamedValue>{{"a", xt::xtensor<float, 1>{1, 2, 3}}, {"b", 7}, {"c", "text"}},
                    dir / "good.ckpt", {.crc_check = true});
    const auto good = bytes_of(dir / "good.ckpt");
    const auto probe = dir / "probe.ckpt";
    std::size_t errors = 0;
    for (std::size_t cut = 0; cut < good.size(); ++cut) {
        INFO("cut at " << cut);
        write_bytes(probe, {good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)});
        const auto [read, parse] = read_and_parse_outcomes(probe, false);
        CHECK(read == parse);
        errors += read.starts_with("FormatError: " + probe.string());
    }
    for (std::size_t i = 0; i < good.size(); ++i)
        for (const char flip : {char(0x01), char(0x80)}) {
            INFO("flip " << int(flip) << " at " << i);
            auto b = good;
            b[i] ^= flip;
            write_bytes(probe, b);
            for (const bool crc : {false, true}) {
                const auto [read, parse] = read_and_parse_outcomes(probe, crc);
                CHECK(read == parse);
                errors += read.starts_with("FormatError: " + probe.string());
            }
        }
    CHECK(errors > good.size());  // most of them are errors, each naming the file
}

TEST_CASE("async_save snapshots the parameters, so training may change them while the file is written",
          "[ckpt][async]") {
    TempDir dir("ckpt");
    LeNet5<> net(1);
    const Tensor original = net.get<"fc1">().weight().value;
    save_checkpoint(net, dir / "async.ckpt", {.async_save = true});
    net.get<"fc1">().weight().value.fill(0.0f);  // right away, while the save may still run
    wait_for_async_save();
    LeNet5<> back;
    load_param_into_net(back, load_checkpoint(dir / "async.ckpt"));
    const bool same = back.get<"fc1">().weight().value == original;
    CHECK(same);
    save_checkpoint(net, dir / "missing" / "x.ckpt", {.async_save = true});
    CHECK_THROWS_AS(wait_for_async_save(), FileError);  // the writer's error reaches the caller
}

TEST_CASE("a full disk gives a clear error and leaves the previous checkpoint intact", "[ckpt][disk]") {
    TempDir dir("ckpt");
    LeNet5<> net(1);
    save_checkpoint(net, dir / "lenet.ckpt");
    const auto before = bytes_of(dir / "lenet.ckpt");
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // child: a 64 KiB file size limit stands in for a full disk
        std::signal(SIGXFSZ, SIG_IGN);
        rlimit limit{64 * 1024, 64 * 1024};
        ::setrlimit(RLIMIT_FSIZE, &limit);
        LeNet5<> other(2);
        try {
            save_checkpoint(other, dir / "lenet.ckpt");
            ::_exit(1);
        } catch (const FileError& e) {
            const std::string msg = e.what();
            ::_exit(msg.find("lenet.ckpt") != std::string::npos && msg.find("file size limit") != std::string::npos &&
                            msg.find("unchanged") != std::string::npos
                        ? 0
                        : 2);
        } catch (...) {
            ::_exit(3);
        }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(bytes_of(dir / "lenet.ckpt") == before);
    for (const auto& e : fs::directory_iterator(dir.path)) CHECK_FALSE(e.path().string().ends_with(".tmp"));
}

namespace {
// A user's own state: no mindsave layers, three lines of visit_parameters.
struct UserModel {
    xt::xtensor<double, 2> embedding = xt::ones<double>({4, 3});
    xt::xtensor<std::int64_t, 1> counts = {1, 2, 3};
    template <class F>
    void visit_parameters(F&& f) {
        f(std::string_view("embedding"), embedding);
        f(std::string_view("counts"), counts);
    }
};
}  // namespace

TEST_CASE("a user's own struct of tensors saves and loads through visit_parameters", "[ckpt]") {
    TempDir dir("ckpt");
    UserModel a;
    a.embedding(1, 2) = 9.5;
    save_checkpoint(a, dir / "user.ckpt");
    UserModel b;
    const auto r = load_param_into_net(b, load_checkpoint(dir / "user.ckpt"));
    CHECK(r.param_not_load.empty());
    CHECK(b.embedding(1, 2) == 9.5);
    CHECK(b.counts(2) == 3);
}

TEST_CASE("the crc_num footer decodes what it encodes, and any of its six high bytes set makes it malformed",
          "[ckpt][crc]") {
    for (const std::uint32_t crc : {0u, 1u, 0x12345678u, 0xffffffffu}) {
        const auto footer = format::detail::encode_crc_footer(crc);
        CHECK(std::string(reinterpret_cast<const char*>(footer.data()), 7) == "crc_num");
        const auto decoded = format::detail::crc_footer(footer);
        REQUIRE(decoded.has_value());
        CHECK(decoded->crc == crc);
        CHECK(decoded->well_formed);
        for (std::size_t high = 7; high < 13; ++high) {  // the 10-byte big-endian value: 6 zero bytes, then the CRC
            auto bad = footer;
            bad[high] = std::byte{1};
            INFO("byte " << high);
            CHECK_FALSE(format::detail::crc_footer(bad)->well_formed);
            CHECK(format::detail::crc_footer(bad)->crc == crc);
        }
    }
    std::vector<std::byte> not_footer(17, std::byte{'x'});
    CHECK_FALSE(format::detail::crc_footer(not_footer).has_value());
    CHECK_FALSE(format::detail::crc_footer(std::span<const std::byte>(not_footer).first(16)).has_value());
}
