// formats/onnx's reader on what other ONNX writers produce: initializers stored as typed number fields
// (packed or not) instead of raw_data, number fields on a wrong wire type, external data whose size overflows.
// (Models mindsave writes are checked against onnx.checker and ONNX Runtime in ../interop.)
#include <bit>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <type_traits>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/core/endian.hpp"
#include "mindsave/formats/onnx.hpp"
#include "support/temp_dir.hpp"

using namespace mindsave;
namespace fs = std::filesystem;
using namespace mindsave::format::proto::onnx;

namespace {

constexpr std::uint64_t onnx_float = 1, onnx_int32 = 6, onnx_int64 = 7, onnx_double = 11;

io::ProtoBuilder initializer(std::string_view name, std::uint64_t data_type, std::vector<std::int64_t> dims) {
    io::ProtoBuilder t;
    for (const auto d : dims) t.int64(TensorProto::dims, d);
    t.varint(TensorProto::data_type, data_type).string(TensorProto::name, name);
    return t;
}

fs::path model_file(const fs::path& dir, const std::vector<io::ProtoBuilder>& initializers) {
    io::ProtoBuilder graph;
    graph.string(GraphProto::name, "g");
    for (const auto& t : initializers) graph.message(GraphProto::initializer, t);
    io::ProtoBuilder model;
    model.int64(ModelProto::ir_version, 7).message(ModelProto::graph, graph);
    const auto path = dir / "model.onnx";
    std::ofstream(path, std::ios::binary) << model.str();
    return path;
}

// Little-endian bytes of values, as a packed fixed32 / fixed64 run or raw_data holds them.
template <class T>
std::vector<std::byte> le_bytes(std::initializer_list<T> values) {
    std::vector<std::byte> out;
    for (const T v : values) {
        const auto bits = std::bit_cast<std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>(v);
        append_le(out, bits, sizeof(T));
    }
    return out;
}

// An initializer spelled key by key, for fields ProtoBuilder never writes (a wire type the schema forbids).
struct RawField {
    io::Field field;
    io::WireType type;
    std::vector<std::byte> payload;  // a varint's or fixed value's bytes, or a length-delimited payload
};
std::vector<std::byte> raw_message(std::initializer_list<RawField> fields) {
    std::vector<std::byte> out;
    for (const auto& [field, type, payload] : fields) {
        std::byte head[20];
        std::byte* p = io::put_key(head, field, type);
        if (type == io::WireType::length_delimited) p = io::put_varint(p, payload.size());
        out.insert(out.end(), head, p);
        out.insert(out.end(), payload.begin(), payload.end());
    }
    return out;
}

}  // namespace

TEST_CASE("initializers stored in typed number fields, packed or one value per key, read as raw_data would",
          "[onnx]") {
    testing::TempDir dir("onnx");
    const auto packed_floats = le_bytes({1.0f, 2.0f, 3.0f, 4.0f});
    const auto packed_doubles = le_bytes({0.25, -2.0});
    auto f_packed = initializer("f_packed", onnx_float, {2, 2});
    f_packed.borrowed(TensorProto::float_data, packed_floats);
    auto d_packed = initializer("d_packed", onnx_double, {2});
    d_packed.borrowed(TensorProto::double_data, packed_doubles);
    auto f_unpacked = initializer("f_unpacked", onnx_float, {3});
    for (const float v : {0.5f, -1.0f, 8.0f}) f_unpacked.float32(TensorProto::float_data, v);
    auto i64 = initializer("i64", onnx_int64, {2});
    i64.packed_int64(TensorProto::int64_data, std::vector<std::int64_t>{-1, 5});
    auto i32 = initializer("i32", onnx_int32, {2});
    i32.int64(TensorProto::int32_data, 7).int64(TensorProto::int32_data, -3);  // negative: a ten-byte varint
    const auto records = format::onnx::read(model_file(dir.path, {f_packed, d_packed, f_unpacked, i64, i32}));
    REQUIRE(records.size() == 5);
    CHECK(records[0].shape == Shape{2, 2});
    CHECK(records[0].values<float>() == std::vector<float>{1, 2, 3, 4});
    CHECK(records[1].values<double>() == std::vector<double>{0.25, -2.0});
    CHECK(records[2].values<float>() == std::vector<float>{0.5f, -1.0f, 8.0f});
    CHECK(records[3].values<std::int64_t>() == std::vector<std::int64_t>{-1, 5});
    CHECK(records[4].values<std::int32_t>() == std::vector<std::int32_t>{7, -3});
}

TEST_CASE("a number field on a wire type its schema forbids is skipped as protobuf does, not misread", "[onnx][hostile]") {
    testing::TempDir dir("onnx");
    using io::WireType;
    const auto name = std::as_bytes(std::span(std::string_view("w")));
    // float_data as fixed64 (8 bytes), then the real value as fixed32: only the fixed32 value is float_data
    const auto tensor = raw_message({
        {TensorProto::dims, WireType::varint, {std::byte{1}}},
        {TensorProto::data_type, WireType::varint, {std::byte{onnx_float}}},
        {TensorProto::name, WireType::length_delimited, {name.begin(), name.end()}},
        {TensorProto::float_data, WireType::fixed64, le_bytes({1e300})},  // the wrong wire type
        {TensorProto::float_data, WireType::fixed32, le_bytes({3.5f})},
    });
    io::ProtoBuilder graph;
    graph.borrowed(GraphProto::initializer, tensor);
    io::ProtoBuilder model;
    model.int64(ModelProto::ir_version, 7).message(ModelProto::graph, graph);
    const auto path = dir / "wire.onnx";
    std::ofstream(path, std::ios::binary) << model.str();
    const auto records = format::onnx::read(path);
    REQUIRE(records.size() == 1);
    CHECK(records[0].values<float>() == std::vector<float>{3.5f});
}

TEST_CASE("external data whose shape overflows a byte count is a FormatError naming the initializer", "[onnx][hostile]") {
    testing::TempDir dir("onnx");
    auto t = initializer("huge", onnx_float, {std::int64_t{1} << 40, std::int64_t{1} << 40});
    t.message(TensorProto::external_data, io::ProtoBuilder()
                                              .string(StringStringEntryProto::key, "location")
                                              .string(StringStringEntryProto::value, "weights.bin"));
    t.varint(TensorProto::data_location, 1);
    std::ofstream(dir / "weights.bin") << "0123";
    const auto path = model_file(dir.path, {t});
    CHECK_THROWS_AS(format::onnx::read(path), FormatError);
    CHECK_THROWS_WITH(format::onnx::read(path), Catch::Contains("model.onnx") && Catch::Contains("'huge'") &&
                                                    Catch::Contains("overflows"));
}
