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
#include "support/file_bytes.hpp"
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

namespace {

// Records of a large file: 6.4 MiB of float32, float64 and int64, a string where the format keeps one, and
// (in a .ckpt) a tensor split in MindSpore's slices.
std::vector<TensorRecord> large_records(bool with_string) {
    std::vector<TensorRecord> out;
    auto add = [&]<class T>(std::string name, Shape shape, T scale) {
        TensorRecord r;
        r.name = std::move(name);
        r.dtype = dtype_of_v<T>;
        r.shape = std::move(shape);
        r.data.resize(r.element_count() * sizeof(T));
        auto v = r.as<T>();
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(i) * scale;
        out.push_back(std::move(r));
    };
    add("a.weight", {1024, 1024}, 0.5f);
    add("b.bias", {3}, 2.0f);
    add("c.step", {}, std::int64_t{7});
    add("d.weight", {300000}, 0.25);
    if (with_string) out.push_back(TensorRecord::string("e.note", "h\u00e9llo"));
    add("f.weight", {64, 1000}, -1.0f);
    return out;
}

template <class F>
fs::path write_large(const fs::path& dir) {
    const auto records = large_records(!std::is_same_v<F, format::safetensors>);
    RecordViews views;
    for (const auto& r : records) views.add(r);
    if constexpr (std::is_same_v<F, format::safetensors> || std::is_same_v<F, format::pth>) {
        const auto path = dir / ("large" + std::string(F::extension));
        F::write(path, views.views());
        return path;
    } else {  // ckpt, and any reading a .ckpt: 1 MiB slices, so a.weight is four records
        const auto path = dir / "large.ckpt";
        format::ckpt::write(path, views.views(), {.slice_bytes = std::size_t{1} << 20});
        return path;
    }
}

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const FormatError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEMPLATE_TEST_CASE("a large file read into a dict goes through its plan into one arena: its parse's records, "
                   "filtered as asked, on any thread count, with its parse's errors",
                   "[formats][planned]", format::ckpt, format::safetensors, format::pth, format::any) {
    using F = TestType;
    TempDir dir("planned_read");
    const fs::path path = write_large<F>(dir.path);
    REQUIRE(fs::file_size(path) >= format::detail::planned_read_min_bytes);
    const auto parsed = copy_records(typename F::Mapped(path).records());  // the mapped parse: another path

    const auto records = F::read(path);
    CHECK(records == parsed);
    REQUIRE(!records.empty());
    CHECK(records.front().data.get_allocator().arena() != nullptr);  // from the arena, not the heap
    TensorRecord copy = records.front();
    CHECK(copy == records.front());
    CHECK(copy.data.get_allocator().arena() == nullptr);  // a copy does not keep the arena alive

    const auto keep = [](std::string_view name) { return name.ends_with(".weight"); };
    std::vector<TensorRecord> expected;
    std::copy_if(parsed.begin(), parsed.end(), std::back_inserter(expected), [&](const TensorRecord& r) { return keep(r.name); });
    CHECK(F::read_if(path, {}, keep) == expected);

    const std::size_t threads = num_threads();
    set_num_threads(1);
    const auto one_thread = F::read(path);
    set_num_threads(3);  // more parts than this machine may have cores
    const auto three_threads = F::read(path);
    set_num_threads(threads);
    CHECK(one_thread == parsed);
    CHECK(three_threads == parsed);

    // the last record survives the others (and the arena stays while it does)
    TensorRecord last;
    {
        auto all = F::read(path);
        last = std::move(all.back());
    }
    CHECK(last == parsed.back());

    // a file cut short (still large enough to be planned) fails as its parse does, naming the file
    const auto bytes = testing::bytes_of(path);
    const fs::path cut = dir.path / ("cut" + path.extension().string());
    testing::write_bytes(cut, std::span(bytes).first(bytes.size() - (std::size_t{100} << 10)));
    REQUIRE(fs::file_size(cut) >= format::detail::planned_read_min_bytes);
    const std::string expected_error = error_of([&] { (void)typename F::Mapped(cut); });
    CHECK_THAT(expected_error, Catch::Contains("cut"));
    CHECK(error_of([&] { (void)F::read(cut); }) == expected_error);
}
