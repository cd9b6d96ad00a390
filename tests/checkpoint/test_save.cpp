// checkpoint/save_checkpoint: what MindSpore's save writes for a network, an optimizer, a list of
// {name, value} or a user's struct; file names and permissions, async_save's snapshot, a full disk.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/mindsave.hpp"
#include "support/file_bytes.hpp"
#include "support/shared_data.hpp"
#include "support/temp_dir.hpp"

using namespace mindsave;
namespace fs = std::filesystem;
using mindsave::testing::bytes_of;
using mindsave::testing::TempDir;
using mindsave::testing::write_bytes;

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

TEST_CASE("a page-cache save (no fsync) writes the bytes a durable save writes, for every checkpoint format",
          "[ckpt][durability]") {
    TempDir dir("durability");
    LeNet5<> net(4);
    const SaveOptions page_cache{.crc_check = true, .durability = io::Durability::page_cache};
    save_checkpoint(net, dir / "durable.ckpt", {.crc_check = true});
    save_checkpoint(net, dir / "cached.ckpt", page_cache);
    CHECK(bytes_of(dir / "cached.ckpt") == bytes_of(dir / "durable.ckpt"));
    save_checkpoint<format::safetensors>(net, dir / "durable", {.crc_check = true});
    save_checkpoint<format::safetensors>(net, dir / "cached", page_cache);
    CHECK(bytes_of(dir / "cached.safetensors") == bytes_of(dir / "durable.safetensors"));
    save_checkpoint<format::pth>(net, dir / "durable");
    save_checkpoint<format::pth>(net, dir / "cached", page_cache);
    CHECK(bytes_of(dir / "cached.pth") == bytes_of(dir / "durable.pth"));
    for (const auto& e : fs::directory_iterator(dir.path)) CHECK(e.path().extension() != ".tmp");  // all renamed
}

TEST_CASE("enc_key in a program without the cipher component says how to add it, and writes nothing", "[ckpt][crypto]") {
    TempDir dir("save_no_crypto");
    LeNet5<> net;
    const auto file = dir.path / "enc.ckpt";
    CHECK_THROWS_WITH(save_checkpoint(net, file, {.enc_key = std::string(16, 'k')}),
                      Catch::Contains("mindsave/io/crypto.hpp") && Catch::Contains("mindsave::crypto"));
    CHECK_FALSE(std::filesystem::exists(file));
    save_checkpoint(net, file);
    CHECK_THROWS_WITH(load_checkpoint(file, {.dec_key = std::string(16, 'k')}), Catch::Contains("not encrypted"));
    CHECK_THROWS_WITH(save_checkpoint(net, dir.path / "e2", {.enc_key = std::string(16, 'k'), .enc_mode = "AES-ECB"}),
                      Catch::Contains("'AES-GCM', 'AES-CBC' or 'SM4-CBC'"));
}
