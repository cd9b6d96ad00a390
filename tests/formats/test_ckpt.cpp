// formats/ckpt: MindSpore's .ckpt read and written byte for byte (every real fixture), split tensors, the
// CRC footer, the one record reader over memory and over a file window, hostile input.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "mindsave/mindsave.hpp"
#include "support/file_bytes.hpp"
#include "support/shared_data.hpp"
#include "support/temp_dir.hpp"

using namespace mindsave;
namespace fs = std::filesystem;

namespace {

using mindsave::testing::bytes_of;
using mindsave::testing::TempDir;
using mindsave::testing::write_bytes;

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
        r.key();
        r.bytes();
        ++n;
    }
    return n;
}

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
        for (const std::size_t window : {std::size_t{17}, format::detail::ckpt_read_window})
            CHECK_THROWS_WITH(format::detail::read_ckpt(format::detail::MemorySource{bytes}, bytes.size(), path, true, window),
                              Catch::Contains(name) && Catch::Contains("runs past the end"));
    }
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
        for (const std::size_t window : {std::size_t{1}, std::size_t{17}, std::size_t{64}, std::size_t{1000}, format::detail::ckpt_read_window}) {
            INFO("window " << window);
            for (const bool crc : {false, true})
                CHECK(format::detail::read_ckpt(format::detail::MemorySource{bytes}, bytes.size(), path, crc, window) == reference);
        }
        CHECK(format::ckpt::read(path) == reference);
        CHECK(format::ckpt::read(path, {.crc_check = true}) == reference);
        CHECK(format::any::read(path) == reference);
        const auto dict = load_checkpoint(path);
        CHECK(std::vector<TensorRecord>(dict.begin(), dict.end()) == reference);
    }
    CHECK(format::ckpt::read(dir / "split.ckpt")[0].shape == Shape{100});  // the pieces joined
    CHECK(load_checkpoint(dir / "train_crc.ckpt", {.filter_prefix = {"moments."}}).keys() ==
          std::vector<std::string>{"conv1.weight", "conv2.weight", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                                   "fc3.weight", "fc3.bias", "global_step", "learning_rate", "momentum"});
    CHECK(format::ckpt::read(dir / "legacy.ckpt").size() == 4);
}

TEST_CASE("every real MindSpore checkpoint read through a small window gives the parsed records", "[ckpt][stream][fixture]") {
    for (const auto& path : testing::ckpt_fixtures()) {
        INFO(path.filename());
        const auto bytes = io::read_whole_file(path);
        const auto reference = parsed(path);
        for (const std::size_t window : {std::size_t{17}, format::detail::ckpt_read_window})
            CHECK(format::detail::read_ckpt(format::detail::MemorySource{bytes}, bytes.size(), path, true, window) == reference);
        CHECK(format::ckpt::read(path) == reference);
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
