// The format contract (formats/concepts.hpp): which types meet which concept, a user's format written
// from scratch, and one save / load round trip templated over every format.

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/mindsave.hpp"
#include "support/same_parameters.hpp"
#include "support/tsv_format.hpp"
#include "support/temp_dir.hpp"

using namespace mindsave;
namespace fs = std::filesystem;
using mindsave::testing::check_same_parameters;
using mindsave::testing::TempDir;
using mindsave::testing::tsv;

// What each of ours is, and is not.
static_assert(CheckpointFormat<format::ckpt> && ReadableFormat<format::ckpt> && StagedFormat<format::ckpt>);
static_assert(CheckpointFormat<format::safetensors> && ReadableFormat<format::safetensors>);
static_assert(CheckpointFormat<format::pth> && ReadableFormat<format::pth>);
static_assert(ModelFormat<format::mindir> && ReadableFormat<format::mindir> && !CheckpointFormat<format::mindir>);
static_assert(ModelFormat<format::onnx> && ReadableFormat<format::onnx> && !CheckpointFormat<format::onnx>);
static_assert(ModelFormat<format::air> && !ReadableFormat<format::air>);
static_assert(ReadableFormat<format::any> && MappedFormat<format::any> && !CheckpointFormat<format::any>);
static_assert(!ModelFormat<format::ckpt> && !StagedFormat<format::safetensors>);
// The user's format: read and write suffice; no Mapped, no staging.
static_assert(CheckpointFormat<tsv> && ReadableFormat<tsv> && !MappedFormat<tsv> && !StagedFormat<tsv>);

// Each requirement, missing alone, makes a type fall short of the concept.
namespace shapes {
using P = const fs::path&;
using R = std::span<const RecordView>;
struct no_extension {
    struct WriteOptions {};
    static void write(P, R, const WriteOptions&) {}
};
struct no_write_options {
    static constexpr std::string_view extension = ".x";
    static void write(P, R) {}
};
struct no_write {
    static constexpr std::string_view extension = ".x";
    struct WriteOptions {};
};
struct read_returns_views {
    struct ReadOptions {};
    static std::vector<RecordView> read(P, const ReadOptions&) { return {}; }
};
struct model_write_returns_nothing {
    static constexpr std::string_view extension = ".x";
    struct WriteOptions {};
    static void write(P, const OpGraph&, R, const WriteOptions&) {}
};
static_assert(!CheckpointFormat<no_extension> && !CheckpointFormat<no_write_options> && !CheckpointFormat<no_write>);
static_assert(format_requirement::writes_records<no_extension> && !format_requirement::has_extension<no_extension>);
static_assert(!ReadableFormat<read_returns_views> && !ModelFormat<model_write_returns_nothing>);
}  // namespace shapes

namespace {

// The file a format's generic entry point writes for net: save_checkpoint, or export_model for a model format.
template <class F, class Net>
fs::path write_with(Net& net, const fs::path& stem) {
    if constexpr (CheckpointFormat<F>) {
        save_checkpoint<F>(net, stem);
        return checkpoint_file_name<F>(stem);
    } else {
        const auto files = export_model<F>(net, Shape{1, 1, 32, 32}, stem);
        REQUIRE(!files.empty());
        return files.front();
    }
}

}  // namespace

TEMPLATE_TEST_CASE("every format saves a network and loads it back bit for bit, by name, shape and dtype", "[formats]",
                   format::ckpt, format::safetensors, format::pth, format::mindir, format::onnx, tsv) {
    TempDir dir("format_round_trip");
    LeNet5<> net{11};
    const fs::path file = write_with<TestType>(net, dir.path / "lenet");
    CHECK(file.extension() == TestType::extension);

    // as a dict: every parameter, by name
    const ParameterDict dict = load_checkpoint<TestType>(file);
    RecordViews expected;
    expected.add_parameters(net);
    CHECK(dict.size() == expected.views().size());
    for (const auto& v : expected.views()) {
        INFO(v.name);
        const TensorRecord* r = dict.find(v.name);
        REQUIRE(r != nullptr);
        CHECK(r->dtype == v.dtype);
        CHECK(r->shape == v.shape);
        CHECK((r->data.size() == v.data.size() && std::memcmp(r->data.data(), v.data.data(), v.data.size()) == 0));
    }
    // into a fresh network, strictly
    LeNet5<> fresh{12};
    load_checkpoint<match::strict, TestType>(file, fresh);
    check_same_parameters(net, fresh);
    // and straight from the file, with no dict (the format's plan, its mapping, or its read)
    LeNet5<> direct{13};
    const LoadResult result = load_param_into_net<match::strict, TestType>(direct, file);
    CHECK(result.param_not_load.empty());
    CHECK(result.ckpt_not_load.empty());
    check_same_parameters(net, direct);
    // and through format::any where it reads the format (all but the user's)
    if constexpr (!std::is_same_v<TestType, tsv>) {
        CHECK(load_checkpoint(file).size() == dict.size());
        LeNet5<> any{14};
        load_param_into_net(any, file);
        check_same_parameters(net, any);
    }
}

TEST_CASE("a user's format takes part in filtering and editing like ours", "[formats]") {
    TempDir dir("format_user");
    LeNet5<> net{3};
    ParameterDict dict = load_checkpoint<tsv>(write_with<tsv>(net, dir.path / "lenet"), {.filter_prefix = {"fc"}});
    CHECK(dict.keys() == std::vector<std::string>{"conv1.weight", "conv2.weight"});  // LeNet5's convolutions have no bias
    dict.insert_or_assign({"note", "from a user format"});
    save_checkpoint<tsv>(dict, dir.path / "edited");
    const ParameterDict back = load_checkpoint<tsv>(dir.path / "edited.tsv");
    CHECK(back.keys() == dict.keys());
    REQUIRE(back.find("note") != nullptr);
    CHECK(back.at("note").text == std::optional<std::string>("from a user format"));
}

TEST_CASE("save_checkpoint's file name gains the format's extension unless it has one (.pt counts for .pth)", "[formats]") {
    CHECK(checkpoint_file_name<format::ckpt>("lenet") == fs::path("lenet.ckpt"));
    CHECK(checkpoint_file_name<format::ckpt>("lenet.ckpt") == fs::path("lenet.ckpt"));
    CHECK(checkpoint_file_name<format::pth>("model.pt") == fs::path("model.pt"));
    CHECK(checkpoint_file_name<format::pth>("model") == fs::path("model.pth"));
    CHECK(checkpoint_file_name<format::safetensors>("model.pt") == fs::path("model.pt.safetensors"));
    CHECK(checkpoint_file_name<tsv>("x") == fs::path("x.tsv"));
}
