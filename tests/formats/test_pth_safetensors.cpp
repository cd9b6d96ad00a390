// formats/safetensors, formats/pth and checkpoint/rename: round trips bit for bit, real torch.save files,
// torch.load of ours, a safetensors reader written from the format's description, hostile files.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <functional>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"
#include "mindsave/checkpoint/load.hpp"
#include "mindsave/checkpoint/rename.hpp"
#include "mindsave/checkpoint/save.hpp"
#include "mindsave/formats/ckpt.hpp"
#include "mindsave/formats/pth.hpp"
#include "mindsave/formats/safetensors.hpp"
#include "mindsave/io/json.hpp"
#include "mindsave/io/zip.hpp"
#include "mindsave/nn/conv2d.hpp"
#include "mindsave/nn/dense.hpp"
#include "mindsave/nn/sequential.hpp"
#include "support/shared_data.hpp"

using namespace mindsave;
namespace fs = std::filesystem;
using Bytes = std::vector<std::byte>;

namespace {

using mindsave::testing::TempDir;

Bytes bytes_of(const fs::path& p) { return io::read_whole_file(p); }
Bytes bytes_from(std::string_view s) {
    const auto b = std::as_bytes(std::span<const char>(s.data(), s.size()));
    return {b.begin(), b.end()};
}

// Every dtype, random bits (NaN payloads included), a 0-d scalar and empty tensors.
std::vector<TensorRecord> sample_records() {
    std::mt19937 rng(42);
    std::vector<TensorRecord> out;
    auto add = [&](std::string name, DType t, Shape shape) {
        TensorRecord r;
        r.name = std::move(name);
        r.dtype = t;
        r.shape = std::move(shape);
        r.data.resize(element_count(r.shape) * dtype_size(t));
        for (auto& b : r.data) b = static_cast<std::byte>(t == DType::Bool ? rng() % 2 : rng() % 256);
        out.push_back(std::move(r));
    };
    add("conv.weight", DType::Float32, {4, 3, 3, 3});
    add("conv.bias", DType::Float32, {4});
    add("half", DType::Float16, {5, 2});
    add("brain", DType::BFloat16, {7});
    add("double", DType::Float64, {2, 2});
    add("steps", DType::Int64, {3});
    add("i32", DType::Int32, {2, 3});
    add("i16", DType::Int16, {3});
    add("i8", DType::Int8, {9});
    add("u8", DType::UInt8, {1, 1, 5});
    add("mask", DType::Bool, {6});
    add("lr", DType::Float32, {});
    add("empty", DType::Float32, {0, 3});
    return out;
}

// Views of records, with the UTF-32 encodings of str values they point into.
struct Views {
    std::deque<Bytes> encoded;
    std::vector<RecordView> list;
    std::span<const RecordView> views() const { return list; }
};
Views views_of(const std::vector<TensorRecord>& records) {
    Views v;
    for (const auto& r : records) v.list.push_back(r.is_string() ? r.view(&v.encoded.emplace_back()) : r.view());
    return v;
}

void check_same(std::span<const RecordView> got, const std::vector<TensorRecord>& want) {
    REQUIRE(got.size() == want.size());
    std::map<std::string, const RecordView*> by_name;
    for (const auto& r : got) by_name[std::string(r.name)] = &r;
    for (const auto& w : want) {
        INFO(w.name);
        REQUIRE(by_name.count(w.name));
        const RecordView& g = *by_name[w.name];
        REQUIRE(g.is_string == w.is_string());
        if (w.is_string()) {
            CHECK(detail::utf32le_to_utf8(g.data) == *w.text);
            continue;
        }
        CHECK(g.dtype == w.dtype);
        CHECK(g.shape == w.shape);
        CHECK(std::equal(g.data.begin(), g.data.end(), w.data.begin(), w.data.end()));
    }
}

void check_same(const std::vector<TensorRecord>& got, const std::vector<TensorRecord>& want) {
    check_same(views_of(got).views(), want);
}

// ---- Python (Debian's python3-torch, seen by /usr/bin/python3, not by a pyenv one first on PATH) ----

fs::path helper_script() { return fs::path(MINDSAVE_SOURCE_DIR) / "tests" / "torch" / "torch_helper.py"; }
std::string shell_quoted(const fs::path& p) { return "'" + p.string() + "'"; }  // our paths hold no quotes
// MINDSAVE_TORCH_PYTHON names another interpreter (one with torch and numpy).
std::string python() {
    const char* env = std::getenv("MINDSAVE_TORCH_PYTHON");
    return env && *env ? env : "/usr/bin/python3";
}

// Skips the test (exit 4) where the interpreter cannot import torch; in CI (CI=true) that fails it instead.
void require_torch() {
    static const bool ok = std::system((shell_quoted(python()) + " -c 'import torch, numpy' >/dev/null 2>&1").c_str()) == 0;
    if (ok) return;
    if (testing::running_in_ci()) FAIL(python() << " cannot import torch in CI (apt-get install python3-torch python3-numpy)");
    WARN("SKIPPED: " << python() << " cannot import torch (apt-get install python3-torch python3-numpy)");
    std::exit(4);
}

void run_helper(const std::string& args) {
    const std::string command = shell_quoted(python()) + " " + shell_quoted(helper_script()) + " " + args;
    INFO(command);
    const int status = std::system(command.c_str());
    REQUIRE(status != -1);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
}

// The helper's JSON: {"records": [{"name", "dtype", "shape", "hex"} | {"name", "text"}], "metadata": {...}}
struct Manifest {
    std::vector<TensorRecord> records;
    std::vector<std::pair<std::string, std::string>> metadata;
};
Manifest read_manifest(const fs::path& p) {
    const Bytes b = bytes_of(p);
    io::detail::JsonReader j(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
    Manifest m;
    std::string key, field;
    j.begin_object();
    while (j.next_member(key)) {
        if (key == "metadata") {
            j.begin_object();
            while (j.next_member(field)) m.metadata.emplace_back(field, j.string());
            continue;
        }
        REQUIRE(key == "records");
        j.begin_array();
        while (j.next_element()) {
            TensorRecord r;
            j.begin_object();
            while (j.next_member(field)) {
                if (field == "name") r.name = j.string();
                else if (field == "text") r.text = j.string();
                else if (field == "dtype") r.dtype = parse_dtype(j.string()).value();
                else if (field == "shape") {
                    j.begin_array();
                    while (j.next_element()) r.shape.push_back(j.uint64());
                } else {
                    REQUIRE(field == "hex");
                    const std::string hex = j.string();
                    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
                        r.data.push_back(static_cast<std::byte>(std::stoi(hex.substr(i, 2), nullptr, 16)));
                }
            }
            m.records.push_back(std::move(r));
        }
    }
    return m;
}

// ---- hand-made files ---------------------------------------------------------------------------

Bytes safetensors_file(std::string_view header, std::size_t data_bytes, std::optional<std::uint64_t> declared = {}) {
    Bytes out(8);
    const std::uint64_t n = declared.value_or(header.size());
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
    const auto h = bytes_from(header);
    out.insert(out.end(), h.begin(), h.end());
    out.resize(out.size() + data_bytes);
    return out;
}

// A zip of (name, bytes) entries as torch.save lays it out, through mindsave's own zip writer.
void write_zip(const fs::path& p, const std::vector<std::pair<std::string, Bytes>>& entries) {
    io::AtomicFile file(p);
    io::ZipWriter zip(&file);
    for (const auto& [name, data] : entries) zip.add(name, data);
    zip.finish();
    file.commit(0644);
}

// Pickle pieces for hostile data.pkl files.
std::string p_text(std::string_view s) {
    std::string out = "X";
    for (int i = 0; i < 4; ++i) out += static_cast<char>((s.size() >> (8 * i)) & 0xff);
    return out + std::string(s);
}
std::string p_int(std::uint64_t v) {  // LONG1, 8 bytes
    std::string out = "\x8a\x08";
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    return out;
}
std::string p_tuple(const std::vector<std::uint64_t>& v) {
    std::string out = "(";
    for (auto x : v) out += p_int(x);
    return out + "t";
}
// {"x": _rebuild_tensor_v2(storage(type, key, numel), offset, sizes, strides, False, OrderedDict())}
std::string tensor_pickle(std::string_view type, std::string_view key, std::uint64_t numel, std::uint64_t offset,
                          const std::vector<std::uint64_t>& sizes, const std::vector<std::uint64_t>& strides) {
    return std::string("\x80\x02}(") + p_text("x") + "ctorch._utils\n_rebuild_tensor_v2\n((" + p_text("storage") +
           "ctorch\n" + std::string(type) + "\n" + p_text(key) + p_text("cpu") + p_int(numel) + "tQ" + p_int(offset) +
           p_tuple(sizes) + p_tuple(strides) + "\x89" + "ccollections\nOrderedDict\n)Rt" + "Ru.";
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const FormatError& e) {
        return std::string("FormatError: ") + e.what();
    } catch (const Error& e) {
        return std::string("Error: ") + e.what();
    }
    return "no error";
}

}  // namespace

// ---- safetensors ------------------------------------------------------------------------------

TEST_CASE("formats_torch: safetensors round-trips every dtype bit for bit in the reference writer's layout", "[safetensors]") {
    TempDir dir("torch");
    const auto records = sample_records();
    const auto views = views_of(records);
    const auto path = dir / "all.safetensors";
    format::safetensors::write(path, views.views());
    CHECK(fs::file_size(path) == format::safetensors::serialized_size(views.views()));
    CHECK((fs::status(path).permissions() & fs::perms::all) == fs::perms::owner_read);  // as MindSpore leaves it

    const format::safetensors::Mapped mapped(path);
    check_same(mapped.records(), records);
    for (std::size_t i = 1; i < mapped.records().size(); ++i)  // MindSpore's loader returns sorted names
        CHECK(mapped.records()[i - 1].name < mapped.records()[i].name);
    const auto file = mapped.bytes();
    for (const auto& r : mapped.records()) {
        if (r.data.empty()) continue;
        CHECK(r.data.data() >= file.data());  // views into the map: zero copy
        CHECK((r.data.data() - file.data()) % static_cast<std::ptrdiff_t>(dtype_size(r.dtype)) == 0);  // aligned
    }
    const auto& meta = mapped.contents().metadata();
    REQUIRE(meta.size() == 1);
    CHECK(meta[0] == std::pair<std::string, std::string>{"format", "ms"});
    CHECK(mapped.contents().header_bytes() % 8 == 0);
    CHECK(format::safetensors::read(path).size() == records.size());

    // The reference crate's own test vector, with MindSpore's metadata in front; and the empty file.
    TensorRecord attn{"attn.0", DType::Float32, {1, 2, 3}, {}, {}};
    for (float f : {0.f, 1.f, 2.f, 3.f, 4.f, 5.f}) {
        const auto b = std::as_bytes(std::span<const float>(&f, 1));
        attn.data.insert(attn.data.end(), b.begin(), b.end());
    }
    format::safetensors::write(dir / "attn.safetensors", views_of({attn}).views());
    const std::string header =
        R"({"__metadata__":{"format":"ms"},"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
    Bytes expected = safetensors_file(header + std::string((8 - header.size() % 8) % 8, ' '), 0);
    expected.insert(expected.end(), attn.data.begin(), attn.data.end());
    CHECK(bytes_of(dir / "attn.safetensors") == expected);
    format::safetensors::write(dir / "empty.safetensors", {});
    CHECK(bytes_of(dir / "empty.safetensors") == safetensors_file("{}      ", 0));  // no metadata at all
    CHECK(format::safetensors::Mapped(dir / "empty.safetensors").records().empty());
}

TEST_CASE("formats_torch: safetensors crc_num is MindSpore's CRC over sorted names and bytes and catches damage",
          "[safetensors][crc]") {
    TempDir dir("torch");
    const auto records = sample_records();
    const auto path = dir / "crc.safetensors";
    format::safetensors::write(path, views_of(records).views(), {.crc = true});
    std::vector<const TensorRecord*> sorted;
    for (const auto& r : records) sorted.push_back(&r);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
    std::uint32_t crc = 0;
    for (const auto* r : sorted) crc = io::crc32(r->data, io::crc32(bytes_from(r->name), crc));
    const format::safetensors::Mapped mapped(path, {.crc_check = true});
    REQUIRE(mapped.contents().has_crc());
    CHECK(mapped.contents().stored_crc() == crc);
    CHECK(mapped.contents().metadata().back() == std::pair<std::string, std::string>{"crc_num", std::to_string(crc)});

    auto bytes = bytes_of(path);
    bytes[bytes.size() - 3] ^= std::byte{0x10};  // inside the last tensor's values
    CHECK_NOTHROW(format::safetensors::parse(bytes, path));
    CHECK_THROWS_WITH(format::safetensors::parse(bytes, path, {.crc_check = true}),
                      Catch::Contains("crc.safetensors") && Catch::Contains("CRC-32 check failed"));
}

TEST_CASE("formats_torch: save_checkpoint and load_checkpoint take format::safetensors", "[safetensors]") {
    TempDir dir("torch");
    std::vector<TensorRecord> records = sample_records();
    save_checkpoint<format::safetensors>(records, dir / "net", {.crc_check = true});
    REQUIRE(fs::exists(dir / "net.safetensors"));
    const auto dict = load_checkpoint<format::safetensors>(dir / "net.safetensors", {.crc_check = true});
    std::vector<RecordView> got;
    for (const auto& r : dict) got.push_back(r.view());
    check_same(got, records);
    // a str value has no safetensors form (MindSpore cannot save one either)
    records.push_back(TensorRecord::string("note", "text"));
    CHECK_THROWS_WITH(save_checkpoint<format::safetensors>(records, dir / "bad"), Catch::Contains("'note' is a str value"));
    CHECK(!fs::exists(dir / "bad.safetensors"));
}

TEST_CASE("formats_torch: safetensors names needing JSON escapes survive", "[safetensors]") {
    TempDir dir("torch");
    TensorRecord r = TensorRecord::scalar<std::int32_t>("we\"ird\\ na\tme\n\x01 \xc3\xa9 \xf0\x9f\x99\x82 /", 5);
    format::safetensors::write(dir / "names.safetensors", views_of({r}).views());
    const format::safetensors::Mapped m(dir / "names.safetensors");
    REQUIRE(m.records().size() == 1);
    CHECK(m.records()[0].name == r.name);
    // the reader takes every JSON escape, surrogate pairs joined
    const auto b = safetensors_file(R"({"\u0041\ud83d\ude42\/":{"dtype":"U8","shape":[],"data_offsets":[0,1]}})", 1);
    CHECK(format::safetensors::parse(b, "esc.safetensors").records()[0].name == "A\xf0\x9f\x99\x82/");
}

TEST_CASE("formats_torch: hostile safetensors headers get a FormatError naming the file and the problem", "[safetensors][hostile]") {
    const fs::path name = "evil.safetensors";
    auto error = [&](const Bytes& b) { return error_of([&] { format::safetensors::parse(b, name); }); };
    auto entry = [](std::string_view n, std::string_view dtype, std::string_view shape, std::string_view offsets) {
        return "\"" + std::string(n) + "\":{\"dtype\":\"" + std::string(dtype) + "\",\"shape\":" + std::string(shape) +
               ",\"data_offsets\":" + std::string(offsets) + "}";
    };
    const std::string a4 = entry("a", "F32", "[1]", "[0,4]");
    std::string dims65 = "[1";
    for (int i = 0; i < 64; ++i) dims65 += ",1";
    dims65 += "]";
    std::string deep = "{" + a4.substr(0, a4.size() - 1) + ",\"x\":" + std::string(70, '[') + std::string(70, ']') + "}}";
    const std::vector<std::pair<Bytes, std::string>> cases = {
        {Bytes(5), "too short for the 8-byte header length"},
        {safetensors_file("{}", 0, 100'000'001), "exceeds the format's limit of 100000000 bytes"},
        {safetensors_file("{}", 0, ~std::uint64_t{0}), "exceeds the format's limit"},
        {safetensors_file("{}", 10, 1000), "runs past the end of the 20-byte file"},
        {safetensors_file("{\"\xff\":1}", 0), "not UTF-8 (byte 10)"},
        {safetensors_file("{\"\xc0\x80\":1}", 0), "not UTF-8"},  // overlong NUL
        {safetensors_file("[]", 0), "not a JSON object"},
        {safetensors_file("\"x\"", 0), "not a JSON object"},
        {safetensors_file("1", 0), "not a JSON object"},
        {safetensors_file("", 0), "not a JSON object"},
        {safetensors_file("{" + a4 + ",}", 4), "trailing comma"},
        {safetensors_file("{" + a4 + "} x", 4), "unexpected text after the end"},
        {safetensors_file("{" + a4, 4), "runs past the end of the text"},
        {safetensors_file("{" + a4 + "," + entry("a", "F32", "[1]", "[4,8]") + "}", 8), "'a' appears twice"},
        {safetensors_file(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), "lacks 'dtype'"},
        {safetensors_file(R"({"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4), "duplicate field 'dtype'"},
        {safetensors_file("{" + entry("a", "Q8", "[1]", "[0,4]") + "}", 4), "unknown dtype 'Q8'"},
        {safetensors_file("{" + entry("a", "F8_E4M3", "[4]", "[0,4]") + "}", 4), "F8_E4M3 has no counterpart"},
        {safetensors_file("{" + a4 + "," + entry("b", "F32", "[1]", "[2,6]") + "}", 6), "'b': data_offsets [2, 6] overlap the previous tensor 'a'"},
        {safetensors_file("{" + a4 + "," + entry("b", "F32", "[1]", "[8,12]") + "}", 12), "leave a gap of 4 bytes after the previous tensor 'a'"},
        {safetensors_file("{" + a4 + "}", 8), "the tensors cover 4 bytes but 8 bytes follow the header"},
        {safetensors_file("{" + a4 + "}", 2), "the tensors cover 4 bytes but 2 bytes"},
        {safetensors_file("{" + entry("a", "F32", "[3]", "[0,8]") + "}", 8), "shape [3] of F32 needs 12 bytes, the offsets hold 8"},
        {safetensors_file("{" + entry("a", "F32", "[4294967296,4294967296,4294967296]", "[0,0]") + "}", 0), "overflows"},
        {safetensors_file("{" + entry("a", "F32", "[1]", "[0,18446744073709551615]") + "}", 4), "needs 4 bytes"},
        {safetensors_file("{" + entry("a", "F32", "[1]", "[8,4]") + "}", 8), "end before they begin"},
        {safetensors_file("{" + entry("a", "F32", "[-1]", "[0,4]") + "}", 4), "expected a non-negative integer, found -1"},
        {safetensors_file("{" + entry("a", "F32", "[1.0]", "[0,4]") + "}", 4), "non-negative integer, found 1.0"},
        {safetensors_file("{" + entry("a", "F32", "[1]", "[0,99999999999999999999]") + "}", 4), "does not fit in 64 bits"},
        {safetensors_file("{" + entry("a", "F32", "[1]", "[0,4,8]") + "}", 4), "more than two integers"},
        {safetensors_file("{" + entry("a", "F32", "[01]", "[0,4]") + "}", 4), "leading zero"},
        {safetensors_file("{" + entry("a", "F32", "1", "[0,4]") + "}", 4), "'shape' is not an array"},
        {safetensors_file(R"({"\ud800":1})", 0), "lone leading surrogate"},
        {safetensors_file(R"({"\x":1})", 0), "unknown escape"},
        {safetensors_file("{\"a\tb\":1}", 0), "raw control character"},
        {safetensors_file(R"({"__metadata__":{"format":1}})", 0), "__metadata__ value of 'format' is not a string"},
        {safetensors_file(R"({"__metadata__":[]})", 0), "__metadata__ is not an object"},
        {safetensors_file(R"({"a":[]})", 0), "a tensor entry is not an object"},
        {safetensors_file(deep, 4), "nest more than 64 levels"},
        {safetensors_file("{" + entry("a", "F32", dims65, "[0,4]") + "}", 4), "more than 64 dims"},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& [bytes, expected] = cases[i];
        INFO("case " << i << ": " << std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()).substr(0, 200));
        const auto e = error(bytes);
        CHECK_THAT(e, Catch::StartsWith("FormatError: evil.safetensors: ") && Catch::Contains(expected));
    }
    // metadata may be null; unknown fields of an entry are ignored, as the reference reader does
    CHECK_NOTHROW(format::safetensors::parse(safetensors_file(R"({"__metadata__":null,"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"extra":{"k":[1,null,true,"s",-1.5e3]}}})", 2), name));
    // the writer refuses what would make an invalid file
    TensorRecord twice = TensorRecord::scalar<float>("x", 1);
    CHECK_THROWS_AS(format::safetensors::serialized_size(views_of({twice, twice}).views()), ParameterError);
    TensorRecord reserved = TensorRecord::scalar<float>("__metadata__", 1);
    CHECK_THROWS_AS(format::safetensors::serialized_size(views_of({reserved}).views()), ParameterError);
}

// ---- pth ---------------------------------------------------------------------------------------

TEST_CASE("formats_torch: ckpt to safetensors to pth to ckpt keeps every byte and str values go through pth",
          "[pth][safetensors]") {
    TempDir dir("torch");
    const auto records = sample_records();
    format::ckpt::write(dir / "a.ckpt", views_of(records).views(), {.writer = format::CkptWriter::v2_2});  // keeps the empty tensor
    const format::ckpt::Mapped a(dir / "a.ckpt");
    format::safetensors::write(dir / "b.safetensors", a.records());
    const format::safetensors::Mapped b(dir / "b.safetensors");
    format::pth::write(dir / "c.pth", b.records());
    CHECK(fs::file_size(dir / "c.pth") == format::pth::serialized_size(b.records()));
    const format::pth::Mapped c(dir / "c.pth", {.crc_check = true});
    format::ckpt::write(dir / "d.ckpt", c.records(), {.writer = format::CkptWriter::v2_2});
    check_same(format::ckpt::Mapped(dir / "d.ckpt").records(), records);

    // pth keeps the order it was given; strings are Python str values
    auto with_text = records;
    with_text.push_back(TensorRecord::string("note", "h\xc3\xa9llo \xf0\x9f\x99\x82"));
    const auto views = views_of(with_text);
    format::pth::write(dir / "text.pth", views.views());
    const format::pth::Mapped t(dir / "text.pth");
    check_same(t.records(), with_text);
    for (std::size_t i = 0; i < with_text.size(); ++i) CHECK(t.records()[i].name == with_text[i].name);
    // zero copy: contiguous tensors are views into the map, at 64-byte aligned entries as torch writes them
    const io::ZipReader zip(t.bytes(), "text.pth");
    for (const auto& e : zip.entries()) {
        INFO(e.name);
        CHECK(e.name.starts_with("archive/"));
        if (e.name.starts_with("archive/data/")) CHECK((e.data.data() - t.bytes().data()) % 64 == 0);
    }
    CHECK(zip.find("archive/version") != nullptr);
    CHECK(zip.find("archive/byteorder") != nullptr);
    for (const auto& r : t.records())
        if (!r.is_string && !r.data.empty()) CHECK((r.data.data() >= t.bytes().data() && r.data.data() < t.bytes().data() + t.bytes().size()));

    // zip64 fields (as a > 4 GiB file needs) read back the same
    format::pth::write(dir / "zip64.pth", views.views(), {.zip64_at = 0});
    CHECK(fs::file_size(dir / "zip64.pth") == format::pth::serialized_size(views.views(), {.zip64_at = 0}));
    check_same(format::pth::Mapped(dir / "zip64.pth", {.crc_check = true}).records(), with_text);

    // the generic API
    save_checkpoint<format::pth>(with_text, dir / "generic");
    check_same(format::pth::read(dir / "generic.pth"), with_text);
    const auto dict = load_checkpoint<format::pth>(dir / "generic.pth");
    CHECK(dict.at("note").text == "h\xc3\xa9llo \xf0\x9f\x99\x82");
    // unsigned wider than 8 bits has no storage type torch.load knows
    CHECK_THROWS_WITH(format::pth::write(dir / "u16.pth", views_of({TensorRecord::scalar<std::uint16_t>("u", 1)}).views()),
                      Catch::Contains("'u' is UInt16, which has no storage type"));
}

TEST_CASE("formats_torch: files written by torch.save read correctly - dtypes and BatchNorm and views and parameters and nesting",
          "[pth][python]") {
    require_torch();
    TempDir dir("torch");
    run_helper("fixtures " + shell_quoted(dir.path));
    for (const char* name : {"model", "dtypes", "views", "params", "nested", "proto4"}) {
        INFO(name);
        const auto expected = read_manifest(dir / (std::string(name) + ".json"));
        const format::pth::Mapped file(dir / (std::string(name) + ".pth"), {.crc_check = true});
        check_same(file.records(), expected.records);
        REQUIRE(file.records().size() == expected.records.size());
        for (std::size_t i = 0; i < expected.records.size(); ++i) CHECK(file.records()[i].name == expected.records[i].name);
    }
    const format::pth::Mapped model(dir / "model.pth");
    const auto& r = model.records();
    const auto counter = std::find_if(r.begin(), r.end(), [](auto& x) { return x.name == "1.num_batches_tracked"; });
    REQUIRE(counter != r.end());
    CHECK(counter->dtype == DType::Int64);
    CHECK(counter->shape.empty());
    std::int64_t steps = 0;
    std::memcpy(&steps, counter->data.data(), 8);
    CHECK(steps == 1);
    // views of one storage: a row (offset 12) shares the base's bytes; a transposed one was gathered
    const format::pth::Mapped views(dir / "views.pth");
    const auto& v = views.records();
    CHECK(v[1].name == "row");
    CHECK(v[1].data.data() == v[0].data.data() + 12 * 4);
    CHECK(v[4].name == "t");
    CHECK(v[4].shape == Shape{6, 4});
}

TEST_CASE("formats_torch: torch.load with weights_only reads mindsave's pth files and zip64 ones too", "[pth][python]") {
    require_torch();
    TempDir dir("torch");
    auto records = sample_records();
    records.push_back(TensorRecord::string("note", "h\xc3\xa9llo"));
    const auto views = views_of(records);
    format::pth::write(dir / "ours.pth", views.views());
    format::pth::write(dir / "ours64.pth", views.views(), {.zip64_at = 0});
    for (const char* name : {"ours", "ours64"}) {
        INFO(name);
        run_helper("dump-pth " + shell_quoted(dir / (std::string(name) + ".pth")) + " " + shell_quoted(dir / "dump.json"));
        const auto back = read_manifest(dir / "dump.json");
        REQUIRE(back.records.size() == records.size());
        for (std::size_t i = 0; i < records.size(); ++i) CHECK(back.records[i].name == records[i].name);
        for (std::size_t i = 0; i < records.size(); ++i)
            if (records[i].is_string()) CHECK(back.records[i].text == records[i].text);
        std::vector<TensorRecord> tensors;
        std::vector<RecordView> tensor_views;
        for (std::size_t i = 0; i < records.size(); ++i)
            if (!records[i].is_string()) tensors.push_back(records[i]), tensor_views.push_back(back.records[i].view());
        check_same(tensor_views, tensors);
    }
}

TEST_CASE("formats_torch: an independent safetensors reader written from the format's description reads ours", "[safetensors][python]") {
    require_torch();  // the helper runs under the same interpreter
    TempDir dir("torch");
    const auto records = sample_records();
    format::safetensors::write(dir / "ours.safetensors", views_of(records).views(), {.crc = true});
    run_helper("dump-safetensors " + shell_quoted(dir / "ours.safetensors") + " " + shell_quoted(dir / "dump.json"));
    const auto back = read_manifest(dir / "dump.json");
    std::vector<RecordView> got;
    for (const auto& r : back.records) got.push_back(r.view());
    check_same(got, records);
    REQUIRE(back.metadata.size() == 2);
    CHECK(back.metadata[0] == std::pair<std::string, std::string>{"format", "ms"});
    CHECK(back.metadata[1].first == "crc_num");  // the helper recomputes and compares it
}

TEST_CASE("formats_torch: a PyTorch state dict converts to MindSpore names and back and loads into torch strictly",
          "[pth][python][rename]") {
    require_torch();
    TempDir dir("torch");
    run_helper("fixtures " + shell_quoted(dir.path));
    const format::pth::Mapped in(dir / "model.pth");
    std::vector<std::string> names;
    for (const auto& r : in.records()) names.emplace_back(r.name);
    const auto to_ms = pytorch_to_mindspore_names(names);
    CHECK(to_ms.names == std::vector<std::optional<std::string>>{"0.weight", "0.bias", "1.gamma", "1.beta", "1.moving_mean",
                                                                 "1.moving_variance", std::nullopt, "2.weight", "2.bias"});
    std::deque<std::string> keep;
    std::vector<RecordView> ms;
    for (std::size_t i = 0; i < names.size(); ++i)
        if (to_ms.names[i]) {
            RecordView v = in.records()[i];
            v.name = keep.emplace_back(*to_ms.names[i]);
            ms.push_back(v);
        }
    format::ckpt::write(dir / "model.ckpt", ms);

    const format::ckpt::Mapped ckpt(dir / "model.ckpt");
    std::vector<std::string> ms_names;
    for (const auto& r : ckpt.records()) ms_names.emplace_back(r.name);
    const auto to_torch = mindspore_to_pytorch_names(ms_names);
    REQUIRE(to_torch.added.size() == 1);
    CHECK(to_torch.added[0].first == 5);  // after 1.moving_variance
    CHECK(to_torch.added[0].second.name == "1.num_batches_tracked");
    std::vector<RecordView> back;
    std::deque<std::string> keep2;
    for (std::size_t i = 0; i < ms_names.size(); ++i) {
        RecordView v = ckpt.records()[i];
        v.name = keep2.emplace_back(*to_torch.names[i]);
        back.push_back(v);
        if (i == to_torch.added[0].first) back.push_back(to_torch.added[0].second.view());
    }
    format::pth::write(dir / "back.pth", back);
    // num_batches_tracked comes back as 0, not the original 1: MindSpore does not keep it
    run_helper("load-into-model " + shell_quoted(dir / "back.pth") + " " + shell_quoted(dir / "model.pth"));
    run_helper("dump-pth " + shell_quoted(dir / "back.pth") + " " + shell_quoted(dir / "dump.json"));
    const auto dumped = read_manifest(dir / "dump.json");
    const auto original = read_manifest(dir / "model.json");
    REQUIRE(dumped.records.size() == original.records.size());
    for (std::size_t i = 0; i < original.records.size(); ++i) {
        INFO(original.records[i].name);
        CHECK(dumped.records[i].name == original.records[i].name);
        if (original.records[i].name != "1.num_batches_tracked") CHECK(dumped.records[i].data == original.records[i].data);
    }
}

TEST_CASE("formats_torch: hostile pth zips get a FormatError naming the file and never a crash", "[pth][hostile]") {
    const auto records = sample_records();
    const fs::path name = "evil.pth";
    TempDir dir("torch");
    format::pth::write(dir / "good.pth", views_of(records).views());
    const Bytes good = bytes_of(dir / "good.pth");
    auto error = [&](const Bytes& b) { return error_of([&] { format::pth::parse(b, name, {.crc_check = true}); }); };
    REQUIRE(error(good) == "no error");

    for (std::size_t cut = 0; cut < good.size(); ++cut) {
        INFO("cut at " << cut);
        CHECK_THAT(error(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut))),
                   Catch::StartsWith("FormatError: evil.pth: "));
    }
    const std::size_t eocd = good.size() - 22;
    auto le = [](Bytes& b, std::size_t at, std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
    };
    auto get = [](const Bytes& b, std::size_t at, int n) {
        std::uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(b[at + static_cast<std::size_t>(i)]);
        return v;
    };
    const std::size_t cd = get(good, eocd + 16, 4);
    auto patched = [&](std::size_t at, std::uint64_t v, int n) {
        Bytes b = good;
        le(b, at, v, n);
        return error(b);
    };
    CHECK_THAT(patched(eocd + 16, good.size(), 4), Catch::Contains("lies outside the archive"));
    CHECK_THAT(patched(eocd + 16, 0xfffffff0, 4), Catch::Contains("lies outside the archive"));
    CHECK_THAT(patched(eocd + 16, 0, 4), Catch::Contains("central directory entry 0 is cut short or damaged"));
    CHECK_THAT(patched(eocd + 16, cd + 1, 4), Catch::Contains("lies outside the archive"));
    CHECK_THAT(patched(eocd + 12, 10, 4), Catch::Contains("cannot fit a 10-byte central directory"));
    CHECK_THAT(patched(eocd + 10, 0xffff, 2), Catch::Contains("zip64 record, but its locator is missing"));
    CHECK_THAT(patched(eocd + 4, 1, 2), Catch::Contains("multi-disk"));
    CHECK_THAT(patched(cd + 42, good.size() - 10, 4), Catch::Contains("does not point at a local header"));
    CHECK_THAT(patched(cd + 42, 1, 4), Catch::Contains("does not point at a local header"));
    CHECK_THAT(patched(cd + 10, 8, 2), Catch::Contains("is compressed (method 8, deflate)"));
    CHECK_THAT(patched(cd + 8, 1, 2), Catch::Contains("is encrypted"));
    CHECK_THAT(patched(cd + 20, 0x7fffffff, 4), Catch::Contains("stored, yet its sizes differ"));
    CHECK_THAT(patched(cd + 20, 0x7fffffff, 4), Catch::Contains("entry 'archive/data.pkl'"));
    {
        Bytes b = good;
        le(b, cd + 20, 0x7fffffff, 4), le(b, cd + 24, 0x7fffffff, 4);
        CHECK_THAT(error(b), Catch::Contains("run past the entries' area"));
    }
    CHECK_THAT(patched(cd + 16, 0x12345678, 4), Catch::Contains("CRC-32 mismatch"));
    CHECK_THAT(patched(cd + 28, 0xffff, 2), Catch::Contains("runs past the central directory"));
    CHECK_THAT(patched(cd + 46, 'b', 1), Catch::Contains("the local header names another entry"));
    CHECK_THAT(error(bytes_from(std::string_view("\x80\x02\x8a\x0a" "abc"))), Catch::Contains("legacy"));
    CHECK_THAT(error(Bytes(100)), Catch::Contains("no end-of-central-directory record"));

    // Random damage: either a clean read or a FormatError; nothing else (run under ASan/UBSan too).
    std::mt19937 rng(7);
    for (int k = 0; k < 3000; ++k) {
        Bytes b = good;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) b[rng() % b.size()] ^= static_cast<std::byte>(1 + rng() % 255);
        const auto e = error_of([&] { format::pth::parse(b, name); });
        INFO(k);
        CHECK((e == "no error" || e.starts_with("FormatError: evil.pth: ")));
    }
}

TEST_CASE("formats_torch: hostile pickles are refused by name as torch.load with weights_only does", "[pth][hostile]") {
    TempDir dir("torch");
    const Bytes four_floats(16);
    auto load = [&](const std::string& pickle, std::vector<std::pair<std::string, Bytes>> more = {}) {
        more.emplace(more.begin(), "archive/data.pkl", bytes_from(pickle));
        write_zip(dir / "evil.pth", more);
        return error_of([&] { format::pth::Mapped(dir / "evil.pth"); });
    };
    const std::vector<std::pair<std::string, Bytes>> storage0 = {{"archive/data/0", four_floats}};
    REQUIRE(load(tensor_pickle("FloatStorage", "0", 4, 0, {2, 2}, {2, 1}), storage0) == "no error");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"\x80\x02" "cos\nsystem\n" + p_text("echo hacked") + "\x85R.", "global 'os.system' is not allowed"},
        {"\x80\x02" "cposix\nsystem\n" + p_text("echo hacked") + "\x85R.", "global 'posix.system' is not allowed"},
        {"\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93" + p_text("1") + "\x85R.", "global 'builtins.eval' is not allowed"},
        {"\x80\x02}(" + p_text("x") + "c__builtin__\ngetattr\n)Ru.", "global '__builtin__.getattr' is not allowed"},
        {"\x80\x02" "ctorch\nComplexFloatStorage\n.", "(complex or quantized)"},
        {"\x80\x02" "ctorch._utils\n_rebuild_qtensor\n.", "_rebuild_qtensor (sparse, quantized"},
        {"\x80\x02}(" + p_text("x") + "(i__main__\nEvil\nu.", "unsupported pickle opcode 0x69"},
        {"\x80\x02}(" + p_text("x") + "\x81u.", "unsupported pickle opcode 0x81"},
        {"\x80\x02}(" + p_text("x"), "ends in the middle of an opcode"},
        {"\x80\x02}(" + p_text("x") + "h\x05u.", "memo slot 5, which was never set"},
        {"\x80\x02]q\x01.", "the file holds a list, not a dict of tensors"},
        {"\x80\x02}(" + p_text("x") + "Nu.", "'x' is a None, which has no tensor form"},
        {"\x80\x02}(" + p_text("x") + "(K\x01K\x02lu.", "unsupported pickle opcode 0x6c"},
        {"\x80\x02}(" + p_text("x") + "\x8a\x09" + std::string(9, '\x01') + "u.", "an integer longer than 64 bits"},
        {"\x80\x06}.", "pickle protocol above 5"},
        {"\x80\x02}u.", "needs a MARK that is not there"},
        {"\x80\x02}(" + p_text("x") + "u.", "SETITEMS with a key but no value"},
        {"\x80\x02}s.", "needs a value the stack does not have"},
        {"\x80\x02K\x01K\x02" "b.", "BUILD on a int"},
        {"\x80\x02" "X\xff\xff\xff\x7f" "abc", "ends in the middle of an opcode"},
        {"\x80\x02}(" + p_text("\xff") + "K\x01u.", "a string that is not UTF-8"},
        {tensor_pickle("FloatStorage", "9", 4, 0, {2, 2}, {2, 1}), "storage '9' is missing (no entry archive/data/9)"},
        {tensor_pickle("FloatStorage", "0", 5, 0, {2, 2}, {2, 1}), "storage '0' should hold 5 Float32 elements, its entry has 16 bytes"},
        {tensor_pickle("FloatStorage", "0", 4, 1, {2, 2}, {2, 1}), "tensor 'x' (size [2, 2], storage '0'): reaches element 4 of a storage of 4"},
        {tensor_pickle("FloatStorage", "0", 4, 0, {5, 2}, {1ull << 62, 1}), "strides overflow"},
        {tensor_pickle("FloatStorage", "0", 4, 0, {1ull << 40}, {0}), "more elements than its storage"},
        {tensor_pickle("FloatStorage", "0", 4, 0, {2, 2}, {2}), "2 sizes but 1 strides"},
        {tensor_pickle("DoubleStorage", "0", 4, 0, {2}, {1}), "should hold 4 Float64 elements"},
        {tensor_pickle("torch.Evil", "0", 4, 0, {2}, {1}), "global 'torch.torch.Evil' is not allowed"},
    };
    for (const auto& [pickle, expected] : cases) {
        INFO(expected);
        CHECK_THAT(load(pickle, storage0), Catch::StartsWith("FormatError: " + (dir / "evil.pth").string() + ": ") &&
                                               Catch::Contains(expected));
    }
    std::string deep = "\x80\x02}(" + p_text("a");
    for (int i = 0; i < 40; ++i) deep += "}(" + p_text("a");
    deep += "K\x01u";
    for (int i = 0; i < 40; ++i) deep += "u";
    CHECK_THAT(load(deep + "."), Catch::Contains("dicts nest more than 32 deep"));
    // d(n) = {"a": d(n-1), "b": d(n-1)} through the memo: 2^30 leaves from a few hundred bytes
    std::string shared = std::string("\x80\x02}q\x00(", 6) + p_text("x") + "K\x01u";
    for (int i = 1; i <= 30; ++i)
        shared += "}q" + std::string(1, static_cast<char>(i)) + "(" + p_text("a") + "h" + std::string(1, static_cast<char>(i - 1)) +
                  p_text("b") + "h" + std::string(1, static_cast<char>(i - 1)) + "u";
    CHECK_THAT(load(shared + "."), Catch::Contains("flattening them never ends"));
    CHECK_THAT(load("\x80\x02}q\x01(" + p_text("self") + "h\x01u."), Catch::Contains("dicts hold themselves"));
    CHECK_THAT(load("\x80\x02}.", {}), Catch::Contains("no error"));  // an empty state dict is fine
    write_zip(dir / "script.pth", {{"m/constants.pkl", bytes_from(std::string_view("\x80\x02)."))}});
    CHECK_THAT(error_of([&] { format::pth::Mapped(dir / "script.pth"); }), Catch::Contains("a TorchScript archive"));
    write_zip(dir / "big.pth", {{"archive/data.pkl", bytes_from(std::string_view("\x80\x02}."))}, {"archive/byteorder", bytes_from(std::string_view("big"))}});
    CHECK_THAT(error_of([&] { format::pth::Mapped(dir / "big.pth"); }), Catch::Contains("big-endian"));
}

// ---- names --------------------------------------------------------------------------------------

TEST_CASE("formats_torch: rename tells BatchNorm by its running statistics in both directions", "[rename]") {
    const std::vector<std::string> torch_names = {
        "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
        "layer1.0.downsample.1.weight", "layer1.0.downsample.1.running_mean", "ln.weight", "ln.bias", "fc.weight",
        "weight", "running_mean", "num_batches_tracked"};
    const auto plan = pytorch_to_mindspore_names(torch_names);
    CHECK(plan.names == std::vector<std::optional<std::string>>{
                            "conv1.weight", "bn1.gamma", "bn1.beta", "bn1.moving_mean", "bn1.moving_variance", std::nullopt,
                            "layer1.0.downsample.1.gamma", "layer1.0.downsample.1.moving_mean", "ln.weight", "ln.bias",
                            "fc.weight", "gamma", "moving_mean", std::nullopt});
    CHECK(plan.added.empty());

    const std::vector<std::string> ms_names = {"conv1.weight", "bn1.moving_mean", "bn1.moving_variance", "bn1.gamma",
                                               "bn1.beta", "moments.bn1.gamma", "fc.weight", "ln.gamma"};
    const auto back = mindspore_to_pytorch_names(ms_names);
    CHECK(back.names == std::vector<std::optional<std::string>>{"conv1.weight", "bn1.running_mean", "bn1.running_var",
                                                                "bn1.weight", "bn1.bias", "moments.bn1.gamma", "fc.weight",
                                                                "ln.gamma"});
    REQUIRE(back.added.size() == 1);
    CHECK(back.added[0].first == 4);
    CHECK(back.added[0].second.name == "bn1.num_batches_tracked");
    CHECK(back.added[0].second.values<std::int64_t>() == std::vector<std::int64_t>{0});
    CHECK(back.added[0].second.shape.empty());
}

TEST_CASE("formats_torch: a NameMap renames exactly or by prefix or drops and its mistakes name their line", "[rename]") {
    const auto map = NameMap::parse("# torchvision -> mindcv\n"
                                    "fc.weight   classifier.weight   # exact\n"
                                    "fc.*        head.*\n"
                                    "layer1.*    stage1.*\n"
                                    "layer1.0.*  first.*\n"
                                    "\n"
                                    "aux.*  -\n"
                                    "extra  -\r\n"
                                    "unused.x  y\n",
                                    "map.txt");
    CHECK(map.apply("fc.weight") == "classifier.weight");
    CHECK(map.apply("fc.bias") == "head.bias");
    CHECK(map.apply("layer1.1.conv") == "stage1.1.conv");
    CHECK(map.apply("layer1.0.conv") == "first.conv");  // the longest prefix wins
    CHECK(map.apply("aux.logits") == std::nullopt);
    CHECK(map.apply("extra") == std::nullopt);
    CHECK(map.apply("other") == "other");
    const std::vector<std::string> names = {"fc.weight", "layer1.0.a", "extra"};
    CHECK(map.unused(names) == std::vector<std::string>{"line 3: 'fc.*'", "line 4: 'layer1.*'", "line 7: 'aux.*'",
                                                        "line 9: 'unused.x'"});
    CHECK(map.plan(names).names == std::vector<std::optional<std::string>>{"classifier.weight", "first.a", std::nullopt});

    auto error = [](std::string_view text) { return error_of([&] { NameMap::parse(text, "map.txt"); }); };
    CHECK_THAT(error("a b c\n"), Catch::Contains("map.txt:1: expected 'FROM TO'"));
    CHECK_THAT(error("\n\na\n"), Catch::Contains("map.txt:3: expected 'FROM TO'"));
    CHECK_THAT(error("a*b c\n"), Catch::Contains("map.txt:1: FROM and TO need the same number of '*'"));
    CHECK_THAT(error("a.* b\n"), Catch::Contains("FROM and TO need the same number of '*'"));
    CHECK_THAT(error("a b*\n"), Catch::Contains("FROM and TO need the same number of '*'"));
    CHECK_THAT(error("a** b**\n"), Catch::Contains("'**': two '*' in a row"));
    CHECK_THAT(error("*.*.*.*.* *.*.*.*.*\n"), Catch::Contains("more than 4 '*'"));
    CHECK_THAT(error("a b\nx y\na c\n"), Catch::Contains("map.txt:3: 'a' already has a rule on line 1"));
    CHECK(NameMap::parse("# nothing\n\n").empty());
}

TEST_CASE("formats_torch: NameMap patterns carry what each '*' matched, and the most literal pattern wins", "[rename]") {
    const auto map = NameMap::parse("layer*.bn*.weight   backbone.layer*.conv*.features.1.gamma\n"
                                    "layer*.conv*.weight backbone.layer*.conv*.features.0.weight\n"
                                    "*.num_batches_tracked  -\n"
                                    "layer4.*.bn*.weight  last.*.*\n"
                                    "* net.*\n",
                                    "map.txt");
    CHECK(map.apply("layer1.0.bn1.weight") == "backbone.layer1.0.conv1.features.1.gamma");
    CHECK(map.apply("layer3.5.conv2.weight") == "backbone.layer3.5.conv2.features.0.weight");
    CHECK(map.apply("layer4.2.bn3.weight") == "last.2.3");  // more literal characters than line 1
    CHECK(map.apply("layer2.0.bn1.num_batches_tracked") == std::nullopt);
    CHECK(map.apply("fc.bias") == "net.fc.bias");  // '*' alone: every other name gains a prefix
    CHECK(map.apply("") == "net.");                 // '*' may match nothing
    // shortest match first: the first '*' takes "1.0", not "1.0.bn1.x.bn2" ...
    CHECK(NameMap::parse("a*.b* [*][*]\n").apply("a1.b2.b3") == "[1][2.b3]");
    // ... and an exact rule beats every pattern
    CHECK(NameMap::parse("* x.*\nfc.bias y\n").apply("fc.bias") == "y");
}

TEST_CASE("formats_torch: name_map_problems finds every gap between two schemas, at compile time too", "[rename]") {
    using Small = Sequential<Named<"conv", Conv2d<1, 2, 3>>, Named<"fc", Dense<8, 4>>>;
    // a torch-like schema: the same tensors under other names, plus a counter to drop
    const std::vector<ParameterSpec> source = {{"features.0.weight", {2, 1, 3, 3}},
                                               {"classifier.weight", {4, 8}},
                                               {"classifier.bias", {4}},
                                               {"steps", {}, DType::Int64, false}};
    constexpr NameRule good[] = {{"features.0.*", "conv.*"}, {"classifier.*", "fc.*"}, {"steps", "-"}};
    CHECK(name_map_problems(source, good, parameter_schema<Small>()).empty());
    static_assert(name_map_problems({{"features.0.weight", {2, 1, 3, 3}}, {"classifier.weight", {4, 8}}, {"classifier.bias", {4}}},
                                    good, parameter_schema<Small>())
                      .empty());

    constexpr NameRule bad[] = {{"features.0.*", "conv.*"}, {"classifier.weight", "fc.weight"},
                                {"classifier.bias", "fc.weight"}, {"x**", "y**"}};
    // malformed rules are reported and never read past their matches
    constexpr NameRule odd[] = {{"*.*.*.*.*.*", "a"}, {"features.*", "*.*.*.*.*.*.*"}};
    CHECK(name_map_problems(source, odd, parameter_schema<Small>()).size() == 9);  // 2 rules, 4 names, 3 gaps
    const auto problems = name_map_problems(source, bad, parameter_schema<Small>());
    CHECK(problems == std::vector<std::string>{
                          "rule 'x** y**': '**': two '*' in a row would match ambiguously",
                          "'classifier.weight' and 'classifier.bias' both become 'fc.weight'",
                          "'classifier.bias' becomes 'fc.weight', which has shape [4, 8] there, not [4]",
                          "'steps' is not in the target (drop it with 'steps -', or rename it)",
                          "'fc.bias' gets no value: no source name becomes it"});
}
