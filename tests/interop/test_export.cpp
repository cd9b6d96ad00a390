// export_model to MindIR and ONNX, checked by independent readers: python3-onnx's checker, ONNX
// Runtime (npm onnxruntime-node) against predict on real MNIST, protoc's Python code for mind_ir.proto,
// MindSpore's own MindIR files, and a byte-level look at the split layout.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "mindsave/data/mnist.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/mindsave.hpp"
#include "support/shared_data.hpp"

using namespace mindsave;
namespace fs = std::filesystem;
namespace vision = mindsave::data::vision;

#include "export_support.hpp"

using namespace mindsave::export_testing;

namespace {

// MindSpore's trained LeNet5 (the fixture checkpoint) and the first 64 real MNIST test images.
struct TrainedLeNet {
    LeNet5<> net;
    Tensor images;
    TrainedLeNet() {
        load_checkpoint(testing::require_shared("fixtures/mindspore/ckpt/xmu_ai_isp__checkpoint_lenet-1_1875.ckpt"), net);
        auto test = data::MnistDataset(testing::require_shared("data/mnist"), "test")
                        .take(64)
                        .map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0},
                             vision::Rescale{1.0 / 0.3081, -1.0 * 0.1307 / 0.3081}, vision::HWC2CHW{})
                        .batch(64, false);
        Batch b;
        REQUIRE(test.next(b));
        images = b.images;
    }
    Tensor predict() {
        SoftmaxCrossEntropyWithLogits<> loss;
        Momentum opt(net, 0.01f, 0.9f);
        Model model(net, loss, opt);
        return model.predict(images);
    }
};

}  // namespace

TEST_CASE("LeNet5 exported to ONNX passes onnx.checker and runs in ONNX Runtime as predict does on real MNIST",
          "[export][onnx]") {
    require_python_onnx();
    require_onnxruntime();
    TrainedLeNet t;
    const Tensor expected = t.predict();
    TempDir dir("onnx");
    const auto files = export_model<format::onnx>(t.net, t.images, dir.path / "lenet");
    REQUIRE(files == std::vector<fs::path>{dir.path / "lenet.onnx"});
    CHECK((fs::status(files[0]).permissions() & fs::perms::all) == fs::perms::owner_read);

    const auto check = run(python + " " + scripts + "/check_model.py onnx " + files[0].string());
    INFO(check.out);
    REQUIRE(check.status == 0);
    CHECK(crcs_from(check.out, "init") == our_crcs(t.net));
    CHECK(ops_from(check.out) == std::multiset<std::string>{"Conv", "Conv", "Relu", "Relu", "Relu", "Relu", "MaxPool",
                                                            "MaxPool", "Flatten", "Gemm", "Gemm", "Gemm"});
    const auto out = run_in_onnxruntime(files[0], t.images, dir.path);
    CHECK(max_abs_diff(expected, out) <= 1e-4f);
    check_round_trip(t.net, files[0]);
}

TEST_CASE("LeNet5 exported to MindIR decodes with protoc's code and has the structure of MindSpore's own file",
          "[export][mindir]") {
    require_python_onnx();
    TrainedLeNet t;
    TempDir dir("mindir");
    const auto files = export_model<format::mindir>(t.net, Shape{1, 1, 32, 32}, dir.path / "lenet.mindir");
    REQUIRE(files == std::vector<fs::path>{dir.path / "lenet.mindir"});
    const auto check = run(python + " " + scripts + "/check_model.py mindir " + files[0].string() + " " + pb_dir);
    INFO(check.out);
    REQUIRE(check.status == 0);
    CHECK(crcs_from(check.out, "param") == our_crcs(t.net));
    const auto ops = ops_from(check.out);
    CHECK(ops.count("Conv2D") == 2);
    CHECK(ops.count("MatMul") == 3);
    CHECK(ops.count("BiasAdd") == 3);
    CHECK(ops.count("Load") == 8);
    const auto fixture = testing::require_shared("fixtures/mindspore/mindir/ms_ori_net_2.0.0a0.mindir");
    const auto same = run(python + " " + scripts + "/check_model.py structure " + files[0].string() + " " +
                          fixture.string() + " " + pb_dir);
    INFO(same.out);
    CHECK(same.status == 0);

    // weights come back bit-exactly, and a fresh network restored from the model predicts the same
    check_round_trip(t.net, files[0]);
    LeNet5<> restored(99);
    const auto result = load_param_into_net<match::strict>(restored, load_checkpoint<format::mindir>(files[0]));
    CHECK(result.param_not_load.empty());
    const Tensor a = t.predict();
    std::swap(t.net, restored);
    const Tensor b = t.predict();
    CHECK(max_abs_diff(a, std::vector<float>(b.begin(), b.end())) == 0.0f);
}

TEST_CASE("past the threshold, MindIR splits into {name}_graph.mindir and {name}_variables/data_0 as MindSpore lays "
          "them out",
          "[export][mindir]") {
    LeNet5<> net(3);
    TempDir dir("split");
    std::size_t python_size = 0;
    std::vector<std::pair<std::string, std::vector<std::byte>>> params;
    visit_parameters(net, [&](std::string_view name, auto& p) {
        const auto v = view_of(p);
        python_size += v.bytes.size() + 33;
        params.emplace_back(std::string(name), std::vector<std::byte>(v.bytes.begin(), v.bytes.end()));
    });
    // MindSpore's rule: split when sum(bytes + 33) > threshold
    CHECK(export_model<format::mindir>(net, Shape{2, 1, 32, 32}, dir.path / "whole",
                                       {.external_data_threshold = python_size}).size() == 1);
    const auto files = export_model<format::mindir>(net, Shape{2, 1, 32, 32}, dir.path / "lenet",
                                                    {.external_data_threshold = python_size - 1});
    REQUIRE(files == std::vector<fs::path>{dir.path / "lenet_graph.mindir", dir.path / "lenet_variables/data_0"});
    CHECK(!fs::exists(dir.path / "lenet.mindir"));

    // byte for byte: header 0x01 + 63 zeros, then parameters sorted by name, each zero-padded to 64
    const auto data = bytes_of(files[1]);
    std::vector<char> expected(64, 0);
    expected[0] = 1;
    std::sort(params.begin(), params.end());
    for (const auto& [name, bytes] : params) {
        expected.insert(expected.end(), reinterpret_cast<const char*>(bytes.data()),
                        reinterpret_cast<const char*>(bytes.data()) + bytes.size());
        expected.resize(expected.size() + (64 - bytes.size() % 64) % 64, 0);
    }
    CHECK(data == expected);
    check_round_trip(net, files[0]);
    // the graph file holds no weights
    CHECK(fs::file_size(files[0]) < 20000);

    const auto check = [&] {
        require_python_onnx();
        return run(python + " " + scripts + "/check_model.py mindir " + files[0].string() + " " + pb_dir);
    }();
    INFO(check.out);
    REQUIRE(check.status == 0);
    CHECK(crcs_from(check.out, "param") == our_crcs(net));

    // a missing or foreign data file is a clear error, not garbage
    fs::permissions(files[1], fs::perms::owner_all);
    std::ofstream(files[1], std::ios::binary | std::ios::trunc).write("\x02", 1);
    CHECK_THROWS_WITH(load_checkpoint(files[0]), Catch::Contains("big-endian"));
    fs::remove(files[1]);
    CHECK_THROWS_AS(load_checkpoint(files[0]), FileError);
}

TEST_CASE("past the threshold, ONNX weights go to external data that the checker, ONNX Runtime and the reader take",
          "[export][onnx]") {
    require_python_onnx();
    require_onnxruntime();
    TrainedLeNet t;
    const Tensor expected = t.predict();
    TempDir dir("onnx_external");
    const auto files = export_model<format::onnx>(t.net, t.images, dir.path / "lenet", {.external_data_threshold = 1000});
    REQUIRE(files == std::vector<fs::path>{dir.path / "lenet.onnx", dir.path / "lenet.onnx.data"});
    CHECK(fs::file_size(files[0]) < 8000);
    const auto check = run(python + " " + scripts + "/check_model.py onnx " + files[0].string());
    INFO(check.out);
    REQUIRE(check.status == 0);
    CHECK(crcs_from(check.out, "init") == our_crcs(t.net));
    CHECK(max_abs_diff(expected, run_in_onnxruntime(files[0], t.images, dir.path)) <= 1e-4f);
    check_round_trip(t.net, files[0]);
}

TEST_CASE("MindSpore's own MindIR files load through the reader", "[export][mindir][fixture]") {
    const auto dir = testing::require_shared("fixtures/mindspore/mindir");
    const format::mindir::Mapped ori(dir / "ms_ori_net_2.0.0a0.mindir");
    REQUIRE(ori.records().size() == 2);
    CHECK(ori.records()[0].name == "conv2.weight");
    CHECK(ori.records()[0].shape == Shape{16, 6, 5, 5});
    CHECK(ori.records()[1].name == "conv1.weight");
    CHECK(ori.records()[1].shape == Shape{6, 1, 5, 5});
    CHECK(ori.model_version() == "2.0.0a0");
    CHECK(ori.graph_name() == "17_1_construct.Default_wrapper.5");

    const auto lstm = load_checkpoint(dir / "ms_old_version_lstm_1.6.1.mindir");
    for (const char* name : {"dense1.weight", "dense1.bias", "lstm.weight_ih_l0", "lstm.weight_hh_l0"})
        CHECK(lstm.find(name) != nullptr);
    for (const char* f : {"ms_relu_1.5.0rc1.mindir", "ms_add_no_encrypt_1.1.0.mindir", "ms_celu_param_2.5.0.mindir"})
        CHECK(format::mindir::Mapped(dir / f).records().empty());
    CHECK_THROWS_WITH(format::mindir::Mapped(dir / "ms_add_aes_gcm_key_0123456789ABCDEF.mindir"),
                      Catch::Contains("encrypted") && Catch::Contains("dec_key"));
    CHECK(format::detect(dir / "ms_ori_net_2.0.0a0.mindir") == format::Detected::mindir);
}

TEST_CASE("export refuses what it cannot write: wrong shapes, AIR, unknown formats, missing folders",
          "[export][errors]") {
    LeNet5<> net;
    TempDir dir("errors");
    CHECK_THROWS_WITH(export_model<format::onnx>(net, Shape{1, 3, 32, 32}, dir.path / "x"),
                      Catch::Contains("conv1") && Catch::Contains("input channels"));
    CHECK_THROWS_WITH(export_model<format::onnx>(net, Shape{1, 1, 4, 4}, dir.path / "x"), Catch::Contains("does not fit"));
    CHECK_THROWS_WITH(export_model<format::onnx>(net, {Shape{1, 1, 32, 32}, Shape{1, 1, 32, 32}}, dir.path / "x"),
                      Catch::Contains("takes one input"));
    CHECK_THROWS_WITH(export_model<format::air>(net, Shape{1, 1, 32, 32}, dir.path / "x"),
                      Catch::Contains("Ascend") && Catch::Contains("format::mindir"));
    CHECK_THROWS_WITH(export_model(net, Shape{1, 1, 32, 32}, dir.path / "x", "PB"),
                      Catch::Contains("must be one of ['AIR', 'ONNX', 'MINDIR']"));
    CHECK_THROWS_AS(export_model<format::mindir>(net, Shape{1, 1, 32, 32}, dir.path / "missing/x"), FileError);
    CHECK(fs::is_empty(dir.path));  // nothing half-written anywhere
    // the runtime-named format writes what the policy writes
    CHECK(export_model(net, Shape{1, 1, 32, 32}, dir.path / "y", "MINDIR") ==
          std::vector<fs::path>{dir.path / "y.mindir"});
}

namespace {
// A user network with two inputs: its own export_rule traces both towers and adds them.
struct TwoTower {
    Sequential<Named<"a", Dense<4, 3>>> left{1};
    Sequential<Named<"b", Dense<5, 3>>> right{2};
    template <class F>
    void visit_parameters(F&& f) {
        mindsave::visit_parameters(left, "left", f);
        mindsave::visit_parameters(right, "right", f);
    }
};
}  // namespace

template <>
struct mindsave::graph::export_rule<TwoTower> {
    static std::vector<std::size_t> trace_inputs(Tracer& t, TwoTower& n, std::span<const std::size_t> xs, const Path& p) {
        if (xs.size() != 2) throw ShapeError("TwoTower takes two inputs");
        const auto a = trace_layer(t, n.left, xs[0], p.child("left", "SequentialCell"));
        const auto b = trace_layer(t, n.right, xs[1], p.child("right", "SequentialCell"));
        return {t.add(op::Add{}, {a, b}, t.shape(a), p.scope)};
    }
};

TEST_CASE("a network with several inputs exports them all through its own export_rule", "[export]") {
    TwoTower net;
    TempDir dir("two");
    const auto onnx_file = export_model<format::onnx>(net, {Shape{2, 4}, Shape{2, 5}}, dir.path / "two").front();
    const auto mindir_file = export_model<format::mindir>(net, {Shape{2, 4}, Shape{2, 5}}, dir.path / "two").front();
    check_round_trip(net, onnx_file);
    check_round_trip(net, mindir_file);
    CHECK(load_checkpoint(mindir_file).find("left.a.weight") != nullptr);
    require_python_onnx();
    const auto check = run(python + " " + scripts + "/check_model.py onnx " + onnx_file.string());
    INFO(check.out);
    REQUIRE(check.status == 0);
    CHECK(ops_from(check.out) == std::multiset<std::string>{"Gemm", "Gemm", "Add"});
}

TEST_CASE("truncated or corrupted MindIR and ONNX files give typed errors, never a crash", "[export][errors]") {
    LeNet5<> net(5);
    TempDir dir("hostile");
    for (const auto& file : {export_model<format::mindir>(net, Shape{1, 1, 32, 32}, dir.path / "m").front(),
                             export_model<format::onnx>(net, Shape{1, 1, 32, 32}, dir.path / "o").front()}) {
        const auto bytes = bytes_of(file);
        const auto bad = dir.path / ("bad" + file.extension().string());
        std::mt19937 rng(7);
        std::size_t errors = 0, tries = 0;
        auto attempt = [&](const std::vector<char>& b) {
            write_bytes(bad, b.data(), b.size());
            ++tries;
            try {
                (void)load_checkpoint(bad);
            } catch (const Error&) {
                ++errors;
            }
        };
        for (std::size_t cut = 0; cut < bytes.size(); cut += cut < 4096 ? 7 : 997)
            attempt(std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)));
        for (int i = 0; i < 300; ++i) {
            auto b = bytes;
            b[rng() % b.size()] ^= static_cast<char>(1 << (rng() % 8));
            attempt(b);
        }
        INFO(file << ": " << errors << " errors in " << tries << " tries");
        CHECK(errors > tries / 10);  // cuts inside the graph must be detected, not read as fewer weights
    }
}

TEST_CASE("ModelCheckpoint<format::mindir> and <format::onnx> save the trained model during training",
          "[export][model_checkpoint]") {
    TempDir dir("mc");
    auto ds = data::MnistDataset(testing::require_shared("data/mnist"), "test")
                  .take(48)
                  .map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0}, vision::HWC2CHW{})
                  .batch(8, true);
    LeNet5<> net(1);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    ModelCheckpoint<format::mindir> mindir_ckpt("lenet", dir.path, {.save_checkpoint_steps = 3});
    ModelCheckpoint<format::onnx> onnx_ckpt("lenet", dir.path, {.save_checkpoint_steps = 3, .async_save = true});
    model.train(1, ds, mindir_ckpt, onnx_ckpt);
    for (const char* f : {"lenet-1_3.mindir", "lenet-1_6.mindir", "lenet-1_3.onnx", "lenet-1_6.onnx"})
        CHECK(fs::exists(dir.path / f));
    check_round_trip(net, dir.path / "lenet-1_6.mindir");
    check_round_trip(net, dir.path / "lenet-1_6.onnx");
    CHECK_THROWS_AS(ModelCheckpoint<format::onnx>("x", dir.path, {.append_info = {"epoch_num"}}), ConfigError);
}
