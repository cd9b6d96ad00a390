// protoc's code for MindSpore's checkpoint.proto against mindsave: it reads every real MindSpore .ckpt
// and every file mindsave writes, sees the records MindSpore's rules predict, and writes the same bytes.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"
#include "checkpoint.pb.h"
#include "interop_mix.hpp"
#include "support/shared_data.hpp"

namespace fs = std::filesystem;
using mindsave::format::ckpt;
using mindsave::interop::Saved;
using Writer = mindsave::format::ckpt::Writer;

namespace {

using mindsave::testing::TempDir;

// One record as the generated code sees it.
struct Raw {
    std::string tag;
    std::vector<std::int64_t> dims;
    std::string type;
    std::string content;
    bool operator==(const Raw&) const = default;
};

std::string hex_prefix(const std::string& s, std::size_t n = 24) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < std::min(n, s.size()); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out + (s.size() > n ? "..." : "");
}

std::string describe(const Raw& r) {
    std::ostringstream o;
    o << "{tag '" << r.tag << "', dims [";
    for (std::size_t i = 0; i < r.dims.size(); ++i) o << (i ? "," : "") << r.dims[i];
    o << "], type '" << r.type << "', " << r.content.size() << " bytes " << hex_prefix(r.content) << "}";
    return o.str();
}

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    return {std::istreambuf_iterator<char>(in), {}};
}

// zlib's CRC-32 bit by bit: a second implementation beside mindsave's slice-by-8 tables.
std::uint32_t bitwise_crc32(const std::string& bytes) {
    std::uint32_t c = 0xffffffffu;
    for (unsigned char b : bytes) {
        c ^= b;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

// MindSpore's crc_check footer: "crc_num" and the CRC as a 10-byte big-endian integer.
std::string crc_footer(std::uint32_t crc) {
    std::string f = "crc_num";
    f.append(6, '\0');
    for (int i = 3; i >= 0; --i) f += static_cast<char>((crc >> (8 * i)) & 0xff);
    return f;
}

// Splits off a footer as MindSpore's loader does (bytes [-17:-10] == "crc_num"); returns it or "".
std::string strip_footer(std::string& file) {
    if (file.size() < 17 || file.compare(file.size() - 17, 7, "crc_num") != 0) return {};
    std::string footer = file.substr(file.size() - 17);
    file.resize(file.size() - 17);
    return footer;
}

// The whole record area parsed as one Checkpoint message (concatenated messages merge).
::Checkpoint parse_generated(const std::string& body) {
    ::Checkpoint message;
    REQUIRE(message.ParseFromString(body));
    REQUIRE(message.IsInitialized());  // every required tag / tensor_type / tensor_content present
    return message;
}

std::vector<Raw> records_of(const ::Checkpoint& message) {
    std::vector<Raw> out;
    for (const auto& v : message.value()) {
        REQUIRE(v.value_case() == ::Checkpoint::Value::kTensor);
        const auto& t = v.tensor();
        out.push_back({v.tag(), {t.dims().begin(), t.dims().end()}, t.tensor_type(), t.tensor_content()});
    }
    return out;
}

// MindSpore's writer: a fresh one-value Checkpoint per record, serialized and appended.
std::string serialize_record_by_record(const ::Checkpoint& message) {
    std::string out;
    for (const auto& v : message.value()) {
        ::Checkpoint one;
        *one.add_value() = v;
        out += one.SerializeAsString();
    }
    return out;
}

std::string serialize_records(const std::vector<Raw>& records) {
    std::string out;
    for (const auto& r : records) {
        ::Checkpoint one;
        auto* v = one.add_value();
        v->set_tag(r.tag);
        auto* t = v->mutable_tensor();
        for (auto d : r.dims) t->add_dims(d);
        t->set_tensor_type(r.type);
        t->set_tensor_content(r.content);
        out += one.SerializeAsString();
    }
    return out;
}

// The records MindSpore's save_checkpoint would write for these values (docs/formats.md sections 1.4, 1.5).
std::vector<Raw> predict(const std::vector<Saved>& saved, Writer writer, std::size_t slice_bytes) {
    const bool legacy = writer == Writer::v2_2;
    std::vector<Raw> out;
    for (const auto& s : saved) {
        Raw r{s.tag, s.shape, s.tensor_type, {}};
        if (s.is_str || (s.shape.empty() && legacy)) r.dims = {0};  // <= 2.2 scalars and every str value
        // A str value is numpy's <U n buffer; np.array("") is <U1, one NUL character.
        const std::string content = s.is_str && s.content.empty() ? std::string(4, '\0') : s.content;
        const std::size_t n = content.size();
        if (n == 0) {  // <= 2.2: one empty record; >= 2.3: the byte-chunk loop runs zero times
            if (legacy) out.push_back(r);
            continue;
        }
        if (n <= slice_bytes) {  // MindSpore splits only when strictly larger
            r.content = content;
            out.push_back(r);
            continue;
        }
        const std::size_t parts = (n + slice_bytes - 1) / slice_bytes;
        if (!legacy) {  // >= 2.3: fixed raw-byte chunks
            for (std::size_t off = 0; off < n; off += slice_bytes) {
                r.content = content.substr(off, slice_bytes);
                out.push_back(r);
            }
            continue;
        }
        // <= 2.2: numpy.array_split of the flattened elements; the first (elems % parts) get one more
        const std::size_t esize = mindsave::interop::mindspore_type_size(s.tensor_type);
        REQUIRE(esize > 0);
        const std::size_t elems = n / esize, base = elems / parts, extra = elems % parts;
        std::size_t off = 0;
        for (std::size_t p = 0; p < parts; ++p) {
            const std::size_t len = (base + (p < extra ? 1 : 0)) * esize;
            r.content = content.substr(off, len);
            out.push_back(r);
            off += len;
        }
    }
    return out;
}

void require_same_records(const std::vector<Raw>& got, const std::vector<Raw>& want) {
    for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i)
        if (!(got[i] == want[i])) FAIL("record " << i << ": got " << describe(got[i]) << ", want " << describe(want[i]));
    REQUIRE(got.size() == want.size());
}

// UTF-32LE to UTF-8, trailing NULs dropped as numpy's <U strings do (independent of mindsave's).
std::string utf32le_to_utf8(const std::string& b) {
    std::string out;
    for (std::size_t i = 0; i + 4 <= b.size(); i += 4) {
        std::uint32_t cp = 0;
        for (int k = 3; k >= 0; --k) cp = (cp << 8) | static_cast<unsigned char>(b[i + static_cast<std::size_t>(k)]);
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }
    while (!out.empty() && out.back() == '\0') out.pop_back();
    return out;
}

// What a reader following MindSpore's >= 2.3 loader makes of the raw records: consecutive pieces of
// one tag joined (dims of the last piece), dims [0] with one element's bytes is a 0-d scalar.
// (A dims [0] record with no bytes is a genuinely empty tensor; mindsave keeps it as [0].)
std::vector<Raw> join_like_loader(const std::vector<Raw>& raws) {
    std::vector<Raw> out;
    for (const auto& r : raws) {
        if (!out.empty() && out.back().tag == r.tag) {
            REQUIRE(out.back().type == r.type);
            out.back().content += r.content;
            out.back().dims = r.dims;
        } else {
            out.push_back(r);
        }
    }
    for (auto& j : out)
        if (j.type == "str" ||
            (j.dims == std::vector<std::int64_t>{0} &&
             j.content.size() == mindsave::interop::mindspore_type_size(j.type)))
            j.dims.clear();
    return out;
}

// format::ckpt::read of path must give exactly the joined records the generated code saw.
void require_mindsave_reads(const fs::path& path, const std::vector<Raw>& raws) {
    const auto joined = join_like_loader(raws);
    const auto records = ckpt::read(path);
    REQUIRE(records.size() == joined.size());
    for (std::size_t i = 0; i < joined.size(); ++i) {
        INFO(path.filename().string() << " record " << i << ": " << describe(joined[i]));
        const auto& r = records[i];
        CHECK(r.name == joined[i].tag);
        if (joined[i].type == "str") {
            REQUIRE(r.is_string());
            CHECK(*r.text == utf32le_to_utf8(joined[i].content));
            continue;
        }
        REQUIRE_FALSE(r.is_string());
        CHECK(mindsave::interop::mindspore_type_name(r.dtype) == joined[i].type);
        CHECK(std::vector<std::int64_t>(r.shape.begin(), r.shape.end()) == joined[i].dims);
        CHECK(std::string(reinterpret_cast<const char*>(r.data.data()), r.data.size()) == joined[i].content);
    }
}

// The real checkpoints that must read (a damaged one, named _CORRUPTED_, is refused by protoc as by us).
std::vector<fs::path> fixture_files() {
    auto files = mindsave::testing::ckpt_fixtures();
    REQUIRE(files.size() >= 7);
    return files;
}

const Raw* find_tag(const std::vector<Raw>& records, const std::string& tag) {
    const auto it = std::find_if(records.begin(), records.end(), [&](const Raw& r) { return r.tag == tag; });
    return it == records.end() ? nullptr : &*it;
}

std::size_t count_tag(const std::vector<Raw>& records, const std::string& tag) {
    return static_cast<std::size_t>(
        std::count_if(records.begin(), records.end(), [&](const Raw& r) { return r.tag == tag; }));
}

std::string writer_name(Writer w) { return w == Writer::v2_2 ? "v2_2" : "v2_3"; }

}  // namespace

TEST_CASE("interop: protoc's Checkpoint parser and format::ckpt::read agree on every real MindSpore checkpoint",
          "[interop][fixture]") {
    for (const auto& damaged : mindsave::testing::ckpt_fixtures(/*damaged=*/true)) {
        ::Checkpoint message;
        CHECK_FALSE(message.ParseFromString(slurp(damaged)));
    }
    for (const auto& path : fixture_files()) {
        INFO(path.filename().string());
        std::string body = slurp(path);
        const std::string footer = strip_footer(body);
        CHECK(footer.empty());  // the README: no real file carries one
        const auto message = parse_generated(body);
        const auto raws = records_of(message);
        REQUIRE_FALSE(raws.empty());
        require_mindsave_reads(path, raws);

        // MindSpore's own bytes are protoc's serialization record by record: the premise that lets
        // the writer tests below compare mindsave's files with protoc's output byte for byte.
        CHECK(serialize_record_by_record(message) == body);
    }
}

TEST_CASE("interop: format::ckpt's writer of the file's generation re-creates every real MindSpore checkpoint byte for byte",
          "[interop][fixture]") {
    TempDir tmp("interop");
    for (const auto& path : fixture_files()) {
        INFO(path.filename().string());
        const auto records = ckpt::read(path);
        std::vector<mindsave::RecordView> views;
        for (const auto& r : records) views.push_back(r.view());  // the fixtures hold no str values
        // MindSpore <= 2.2 wrote 0-d values with dims [0], >= 2.3 with none: the file is one or the other
        std::vector<std::string> matching;
        for (const Writer writer : {Writer::v2_2, Writer::v2_3}) {
            const auto out = tmp.path / (writer_name(writer) + "_" + path.filename().string());
            ckpt::write(out, views, {.writer = writer});
            if (slurp(out) == slurp(path)) matching.push_back(writer_name(writer));
        }
        CHECK_FALSE(matching.empty());
    }
}

TEST_CASE("interop: protoc's parser sees in mindsave's files exactly the records MindSpore's rules predict",
          "[interop][writer]") {
    mindsave::interop::Mix mix;
    TempDir tmp("interop");
    for (const Writer writer : {Writer::v2_2, Writer::v2_3})
        for (const bool crc : {false, true})
            for (const std::size_t slice : {std::size_t{100}, ckpt::default_slice_bytes}) {
                const auto path = tmp.path / ("mix_" + writer_name(writer) + (crc ? "_crc" : "") + "_" +
                                              std::to_string(slice) + ".ckpt");
                INFO(path.filename().string());
                mix.save(path, writer, crc, slice);
                std::string body = slurp(path);
                const std::string footer = strip_footer(body);
                if (crc) {
                    CHECK(footer == crc_footer(bitwise_crc32(body)));
                } else {
                    CHECK(footer.empty());
                }
                const auto raws = records_of(parse_generated(body));
                require_same_records(raws, predict(mix.saved(), writer, slice));
                require_mindsave_reads(path, raws);

                // The rules themselves, spelled out on a few records.
                const bool legacy = writer == Writer::v2_2;
                const std::vector<std::int64_t> scalar_dims = legacy ? std::vector<std::int64_t>{0}
                                                                     : std::vector<std::int64_t>{};
                for (const char* tag : {"learning_rate", "momentum", "epoch_num", "loss_scale", "converged"}) {
                    INFO(tag);
                    REQUIRE(find_tag(raws, tag));
                    CHECK(find_tag(raws, tag)->dims == scalar_dims);
                }
                CHECK(find_tag(raws, "epoch_num")->type == "Int64");
                CHECK(find_tag(raws, "loss_scale")->type == "Float32");
                CHECK(find_tag(raws, "converged")->type == "Bool");
                CHECK(find_tag(raws, "global_step")->dims == std::vector<std::int64_t>{1});
                const auto* note = find_tag(raws, "note");
                REQUIRE(note);
                CHECK(note->dims == std::vector<std::int64_t>{0});
                CHECK(note->type == "str");
                CHECK(note->content == mindsave::interop::note_utf32le());
                CHECK(count_tag(raws, "empty.f32") == (legacy ? 1u : 0u));
                CHECK(count_tag(raws, "empty.i32") == (legacy ? 1u : 0u));
                if (legacy) {
                    CHECK(find_tag(raws, "empty.f32")->dims == std::vector<std::int64_t>{0});
                    CHECK(find_tag(raws, "empty.f32")->content.empty());
                    CHECK(find_tag(raws, "empty.i32")->dims == std::vector<std::int64_t>{3, 0});
                }
                CHECK(count_tag(raws, "exact.100") == 1);
                if (slice == 100) {
                    CHECK(count_tag(raws, "u8.301") == 4);  // 76+75+75+75 (<= 2.2) or 100+100+100+1 (>= 2.3)
                    CHECK(count_tag(raws, "fc1.weight") == 1920);
                    CHECK(count_tag(raws, "moments.fc1.weight") == 1920);
                    for (const auto& r : raws)
                        if (r.tag == "u8.301") CHECK(r.dims == std::vector<std::int64_t>{301});
                        else if (r.tag == "conv1.weight") CHECK(r.dims == std::vector<std::int64_t>{6, 1, 5, 5});
                } else {
                    CHECK(count_tag(raws, "u8.301") == 1);
                    CHECK(count_tag(raws, "fc1.weight") == 1);
                }
            }
}

TEST_CASE("interop: protoc's serializer, one Checkpoint message per record, writes the bytes mindsave wrote",
          "[interop][writer]") {
    mindsave::interop::Mix mix;
    TempDir tmp("interop");
    for (const Writer writer : {Writer::v2_2, Writer::v2_3})
        for (const bool crc : {false, true}) {
            const auto path = tmp.path / ("mix_" + writer_name(writer) + (crc ? "_crc" : "") + ".ckpt");
            INFO(path.filename().string());
            mix.save(path, writer, crc, 100);
            const std::string file = slurp(path);
            std::string body = file;
            strip_footer(body);

            // Re-serializing what protoc parsed ...
            std::string again = serialize_record_by_record(parse_generated(body));
            if (crc) again += crc_footer(bitwise_crc32(again));
            CHECK(again.size() == file.size());
            CHECK(again == file);

            // ... and serializing the predicted records from scratch, never having seen mindsave's bytes.
            std::string fresh = serialize_records(predict(mix.saved(), writer, 100));
            if (crc) fresh += crc_footer(bitwise_crc32(fresh));
            CHECK(fresh.size() == file.size());
            CHECK(fresh == file);
        }
}
