// Replays .ckpt files through the fuzz body in the normal g++ build (so the harness is compiled and
// warning-checked everywhere), and writes the hand-made seed corpus that run_fuzz.cmake starts from.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt_fuzz_body.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/protobuf_wire.hpp"

namespace fs = std::filesystem;
using namespace mindsave;

namespace {

// Just enough protobuf encoding to spell malformed records the writer would never produce.
struct Proto {
    std::vector<std::byte> bytes;

    Proto& raw_varint(std::uint64_t v) {
        std::byte buf[10];
        bytes.insert(bytes.end(), buf, io::put_varint(buf, v));
        return *this;
    }
    // any field number, the schema's or not: these records are malformed on purpose
    Proto& key(std::uint32_t field, io::WireType type) {
        return raw_varint((std::uint64_t{field} << 3) | static_cast<std::uint64_t>(type));
    }
    Proto& varint(std::uint32_t field, std::uint64_t v) { return key(field, io::WireType::varint).raw_varint(v); }
    Proto& payload(std::uint32_t field, std::span<const std::byte> p) {
        key(field, io::WireType::length_delimited).raw_varint(p.size());
        bytes.insert(bytes.end(), p.begin(), p.end());
        return *this;
    }
    Proto& str(std::uint32_t field, std::string_view s) { return payload(field, std::as_bytes(std::span(s))); }
    Proto& message(std::uint32_t field, const Proto& m) { return payload(field, m.bytes); }
    Proto& fixed(std::uint32_t field, io::WireType type, std::size_t width) {
        key(field, type);
        bytes.insert(bytes.end(), width, std::byte{0x5a});
        return *this;
    }
    Proto& crc_footer(std::uint64_t value) {
        const std::string_view magic = "crc_num";
        for (char c : magic) bytes.push_back(static_cast<std::byte>(c));
        for (int i = 9; i >= 0; --i) bytes.push_back(static_cast<std::byte>((value >> (8 * i)) & 0xff));
        return *this;
    }
};

Proto tensor(std::vector<std::uint64_t> dims, std::string_view type, std::size_t content_bytes) {
    Proto t;
    for (auto d : dims) t.varint(1, d);
    t.str(2, type);
    return t.payload(3, std::vector<std::byte>(content_bytes, std::byte{0x3f}));
}
Proto record(std::string_view tag, const Proto& tensor_proto) {
    return Proto{}.message(1, Proto{}.str(1, tag).message(2, tensor_proto));
}

void write_bytes(const fs::path& path, std::span<const std::byte> bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw FileError(path, "cannot write seed");
}

void write_records(const fs::path& path, const std::vector<TensorRecord>& records, format::ckpt::WriteOptions o) {
    std::vector<std::vector<std::byte>> strings(records.size());
    std::vector<RecordView> views;
    for (std::size_t i = 0; i < records.size(); ++i) views.push_back(records[i].view(&strings[i]));
    format::ckpt::write(path, views, o);
}

TensorRecord filled(std::string name, DType dtype, Shape shape) {
    TensorRecord r;
    r.name = std::move(name);
    r.dtype = dtype;
    r.shape = std::move(shape);
    r.data.resize(element_count(r.shape) * dtype_size(dtype));
    for (std::size_t i = 0; i < r.data.size(); ++i) r.data[i] = static_cast<std::byte>(i * 37 + 1);
    return r;
}

// Small files that reach every branch of the reader: both writer generations, split tensors, every
// dtype, strings, the CRC footer; and malformed ones the real writers never make.
void write_seeds(const fs::path& dir) {
    fs::create_directories(dir);
    const std::vector<TensorRecord> basic = {
        filled("conv1.weight", DType::Float32, {2, 1, 2, 2}),
        TensorRecord::scalar<float>("learning_rate", 0.01f),
        filled("global_step", DType::Int32, {1}),
        TensorRecord::string("note", "h\xc3\xa9llo"),
    };
    write_records(dir / "seed_v23_crc.ckpt", basic, {.writer = format::CkptWriter::v2_3, .crc = true});
    auto legacy = basic;
    legacy.push_back(filled("empty", DType::Float32, {0}));
    write_records(dir / "seed_v22.ckpt", legacy, {.writer = format::CkptWriter::v2_2});
    const std::vector<TensorRecord> big = {filled("fc.weight", DType::Float32, {3, 4}),
                                           filled("fc.bias", DType::Int64, {5})};
    write_records(dir / "seed_split_v23.ckpt", big, {.writer = format::CkptWriter::v2_3, .crc = true, .slice_bytes = 16});
    write_records(dir / "seed_split_v22.ckpt", big, {.writer = format::CkptWriter::v2_2, .slice_bytes = 16});
    std::vector<TensorRecord> dtypes;
    for (const auto& info : detail::dtype_table) dtypes.push_back(filled(std::string(info.name), info.dtype, {2}));
    write_records(dir / "seed_dtypes.ckpt", dtypes, {});

    write_bytes(dir / "seed_empty.ckpt", {});
    // packed dims, fields in reverse order, tag after tensor
    Proto packed_dims;
    packed_dims.payload(1, Proto{}.raw_varint(2).raw_varint(3).bytes);
    Proto reversed;
    reversed.payload(3, std::vector<std::byte>(24, std::byte{1})).str(2, "Float32");
    reversed.bytes.insert(reversed.bytes.end(), packed_dims.bytes.begin(), packed_dims.bytes.end());
    write_bytes(dir / "seed_packed_reversed.ckpt", Proto{}.message(1, Proto{}.message(2, reversed).str(1, "w")).bytes);
    // unknown fields of every wire type, and the 1.0-1.5 "Uint8" spelling
    Proto odd = tensor({4}, "Uint8", 4);
    odd.fixed(7, io::WireType::fixed32, 4).fixed(8, io::WireType::fixed64, 8).varint(9, 300).str(10, "x");
    write_bytes(dir / "seed_unknown_fields.ckpt",
                Proto{}.message(1, Proto{}.str(1, "u").message(2, odd).varint(5, 1).fixed(6, io::WireType::fixed32, 4))
                    .bytes);
    // legacy scalar (dims [0], one element) and a str record
    auto scalar = record("momentum", tensor({0}, "Float32", 4));
    const auto text = record("name", tensor({0}, "str", 8));
    scalar.bytes.insert(scalar.bytes.end(), text.bytes.begin(), text.bytes.end());
    write_bytes(dir / "seed_legacy_scalar.ckpt", scalar.bytes);
    // MapTensorProto (field 3): rejected
    write_bytes(dir / "seed_maptensor.ckpt",
                Proto{}.message(1, Proto{}.str(1, "table").message(3, Proto{}.message(1, tensor({2}, "int32", 8))))
                    .bytes);
    // CRC footers that do not match, or have their top bytes set
    auto bad_crc = record("w", tensor({2}, "Float32", 8));
    write_bytes(dir / "seed_bad_crc.ckpt", Proto(bad_crc).crc_footer(0x12345678).bytes);
    write_bytes(dir / "seed_crc_high_bytes.ckpt", Proto(bad_crc).crc_footer(0x0100000000ULL).bytes);
    // shape and content disagree; pieces of one tag disagree on type; dims whose product overflows
    write_bytes(dir / "seed_size_mismatch.ckpt", record("w", tensor({4}, "Float32", 8)).bytes);
    auto pieces = record("w", tensor({2}, "Float32", 4));
    const auto other = record("w", tensor({2}, "Int32", 4));
    pieces.bytes.insert(pieces.bytes.end(), other.bytes.begin(), other.bytes.end());
    write_bytes(dir / "seed_piece_types.ckpt", pieces.bytes);
    write_bytes(dir / "seed_overflow.ckpt", record("w", tensor({1ULL << 62, 1ULL << 62, 4}, "Float64", 0)).bytes);
    write_bytes(dir / "seed_unknown_type.ckpt", record("w", tensor({1}, "Complex64", 8)).bytes);
    // one tag twice, each piece whole on its own: parse joins them (and rejects the result)
    auto twice = record("w", tensor({1}, "Float32", 4));
    const auto again = record("w", tensor({1}, "Float32", 4));
    twice.bytes.insert(twice.bytes.end(), again.bytes.begin(), again.bytes.end());
    write_bytes(dir / "seed_same_tag_twice.ckpt", twice.bytes);
    // tensor bytes that end like a CRC footer: parse takes the last 17 bytes as one, cutting the record
    std::vector<std::byte> content(20, std::byte{0});  // 3 bytes, "crc_num", 10 zero bytes
    const std::string_view magic = "crc_num";
    std::fill_n(content.begin(), 3, std::byte{0x3f});
    for (std::size_t i = 0; i < magic.size(); ++i) content[3 + i] = static_cast<std::byte>(magic[i]);
    write_bytes(dir / "seed_footer_inside_tensor.ckpt",
                record("w", Proto{}.varint(1, 5).str(2, "Float32").payload(3, content)).bytes);
}

bool running_in_ci() {
    const char* ci = std::getenv("CI");
    return ci && std::string_view(ci) == "true";
}

std::vector<fs::path> files_of(const fs::path& path) {
    if (!fs::is_directory(path)) return {path};
    std::vector<fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(path))
        if (e.is_regular_file()) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<fs::path> inputs;
    bool expect_valid = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--expect-valid") {
            expect_valid = true;
        } else if (arg == "--write-seeds" && i + 1 < argc) {
            write_seeds(argv[++i]);
        } else if (arg.starts_with("--")) {
            std::fprintf(stderr,
                         "usage: replay_ckpt [--write-seeds DIR] [--expect-valid] FILE|DIR...\n"
                         "  runs every file through the ckpt fuzz body; --expect-valid also requires each to "
                         "parse\n");
            return 2;
        } else {
            inputs.emplace_back(arg);
        }
    }
    std::size_t files = 0, accepted = 0;
    for (const auto& input : inputs) {
        if (!fs::exists(input)) {
            // Like the Catch2 tests: missing shared data skips on a clone, fails in CI.
            std::printf("%s: %s not found\n", running_in_ci() ? "FAILED" : "SKIPPED", input.c_str());
            return running_in_ci() ? 1 : 4;
        }
        for (const auto& file : files_of(input)) {
            const auto bytes = io::read_whole_file(file);
            try {
                fuzz::fuzz_one(bytes);
            } catch (const std::exception& e) {
                std::printf("FAILED: %s: exception other than mindsave::Error escaped: %s\n", file.c_str(), e.what());
                return 1;
            }
            ++files;
            // With --expect-valid, a file named _CORRUPTED_ is a real damaged one: it must be refused instead.
            const bool must_parse = expect_valid && file.filename().string().find("_CORRUPTED_") == std::string::npos;
            try {
                format::ckpt::parse(bytes, file, {.crc_check = true});
                ++accepted;
                if (expect_valid && !must_parse) {
                    std::printf("FAILED: %s: a damaged file parsed\n", file.c_str());
                    return 1;
                }
            } catch (const Error& e) {
                if (must_parse) {
                    std::printf("FAILED: %s\n", e.what());
                    return 1;
                }
            }
        }
    }
    std::printf("replayed %zu files: %zu accepted, %zu rejected with mindsave::Error\n", files, accepted,
                files - accepted);
    return 0;
}
