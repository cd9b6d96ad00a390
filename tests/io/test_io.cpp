// include/mindsave/io/: the protobuf wire reader's dims field (unpacked, packed, the rank cap that every
// tensor-proto reader now shares), whole-file reads through read_at, and MappedFile.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/core/parallel.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/io/crc32_ahead.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/proto_builder.hpp"
#include "mindsave/io/protobuf_wire.hpp"
#include "mindsave/io/read_file.hpp"
#include "support/file_bytes.hpp"
#include "support/temp_dir.hpp"

using namespace mindsave;

namespace {

// The bytes of a message holding field 1 as the given dims, unpacked (one key per value) or packed.
std::vector<std::byte> dims_message(const std::vector<std::uint64_t>& dims, bool packed) {
    auto varint = [](std::vector<std::byte>& to, std::uint64_t v) {
        for (; v >= 0x80; v >>= 7) to.push_back(static_cast<std::byte>((v & 0x7f) | 0x80));
        to.push_back(static_cast<std::byte>(v));
    };
    std::vector<std::byte> out, body;
    for (const auto d : dims) {
        if (!packed) varint(out, 0x08);
        varint(packed ? body : out, d);
    }
    if (packed) {
        varint(out, 0x0a), varint(out, body.size());
        out.insert(out.end(), body.begin(), body.end());
    }
    return out;
}

std::vector<std::size_t> read_all_dims(const std::vector<std::byte>& bytes) {
    io::WireReader r(bytes);
    std::vector<std::size_t> shape;
    while (!r.at_end()) {
        const auto key = r.key();
        REQUIRE(key.number == 1);
        io::read_dims(r, key.type, shape);
    }
    return shape;
}

}  // namespace

TEST_CASE("read_dims takes unpacked and packed dims alike, up to max_tensor_rank", "[io][wire]") {
    const std::vector<std::uint64_t> dims{6, 1, 5, 300};
    CHECK(read_all_dims(dims_message(dims, false)) == std::vector<std::size_t>{6, 1, 5, 300});
    CHECK(read_all_dims(dims_message(dims, true)) == std::vector<std::size_t>{6, 1, 5, 300});
    CHECK(read_all_dims(dims_message(std::vector<std::uint64_t>(max_tensor_rank, 1), true)).size() == max_tensor_rank);
}

TEST_CASE("a dims field past max_tensor_rank is a WireError at its place in the file", "[io][wire][hostile]") {
    for (const bool packed : {false, true}) {
        INFO("packed " << packed);
        const auto bytes = dims_message(std::vector<std::uint64_t>(max_tensor_rank + 1, 1), packed);
        try {
            read_all_dims(bytes);
            FAIL("65 dims were accepted");
        } catch (const io::WireError& e) {
            CHECK(e.what == "more than 64 dims");
            CHECK(e.offset == bytes.size() - 1);  // the 65th value: the message's last byte
        }
    }
}

TEST_CASE("read_whole_file and read_file_maybe_gzip return a file's exact bytes; a missing file is a FileError",
          "[io][file]") {
    testing::TempDir dir("io");
    std::string content(200'000, '\0');
    for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7 + i / 251);
    std::ofstream(dir.path / "data.bin", std::ios::binary) << content;
    const auto whole = io::read_whole_file(dir.path / "data.bin");
    REQUIRE(whole.size() == content.size());
    CHECK(std::equal(whole.begin(), whole.end(), content.begin(),
                     [](std::byte b, char c) { return b == static_cast<std::byte>(c); }));
    const auto plain = io::read_file_maybe_gzip(dir.path / "data.bin");
    CHECK(std::string(plain.begin(), plain.end()) == content);
    CHECK_THROWS_AS(io::read_whole_file(dir.path / "missing.bin"), FileError);
    CHECK_THROWS_WITH(io::read_whole_file(dir.path / "missing.bin"), Catch::Contains("missing.bin"));
}

TEST_CASE("MappedFile holds a file's exact bytes whether it reads a small file or maps a larger one", "[io]") {
    testing::TempDir dir("mapped");
    constexpr std::size_t limit = io::MappedFile::small_file;
    for (const std::size_t size : {std::size_t{1}, std::size_t{4096}, limit, limit + 1, 3 * limit + 7}) {
        INFO("size " << size);
        std::vector<char> bytes(size);
        for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + size) >> 3);
        testing::write_bytes(dir / "f.bin", bytes);
        io::MappedFile file(dir / "f.bin");
        const io::MappedFile moved(std::move(file));  // the bytes move with the object, read or mapped
        REQUIRE(moved.bytes().size() == size);
        CHECK(std::memcmp(moved.bytes().data(), bytes.data(), size) == 0);
        CHECK(moved.path() == dir / "f.bin");
    }
    testing::write_bytes(dir / "empty.bin", {});
    CHECK(io::MappedFile(dir / "empty.bin").bytes().empty());
    CHECK_THROWS_WITH(io::MappedFile(dir.path), Catch::Contains("is a directory"));
    CHECK_THROWS_WITH(io::MappedFile(dir / "missing.bin"), Catch::Contains("does not exist"));
}

TEST_CASE("crc32 gives zlib's CRC-32 at every length, alignment and starting value, folded by carry-less "
          "multiplication where the CPU has it and by tables elsewhere", "[io][crc32]") {
    std::vector<std::byte> bytes(std::size_t{1} << 18);
    std::uint32_t state = 12345;
    const auto next = [&] { return state = state * 1664525u + 1013904223u; };
    for (auto& b : bytes) b = static_cast<std::byte>(next() >> 24);
    CHECK(io::crc32(std::as_bytes(std::span("123456789", 9))) == 0xCBF43926u);  // the standard check value
    for (int i = 0; i < 3000; ++i) {
        const std::size_t offset = next() % 64, length = i < 2000 ? next() % 300 : next() % (bytes.size() - 64);
        const std::uint32_t start = next();
        const auto piece = std::span<const std::byte>(bytes).subspan(offset, length);
        INFO("offset " << offset << ", length " << length);
        REQUIRE(io::crc32(piece, start) == ~io::detail::crc32_tables(~start, piece.data(), piece.size()));
        // and in two halves, as a writer continues it
        const auto half = length / 2;
        REQUIRE(io::crc32(piece.subspan(half), io::crc32(piece.first(half), start)) == io::crc32(piece, start));
    }
}

TEST_CASE("Crc32Ahead gives each piece's CRC-32 in any order of asking, on its own thread above its threshold "
          "and inline below it, and stops cleanly when the writer leaves early", "[io][crc32]") {
    std::vector<std::byte> bytes(io::Crc32Ahead::thread_min_bytes + 4096);
    std::uint32_t state = 777;
    for (auto& b : bytes) b = static_cast<std::byte>((state = state * 1664525u + 1013904223u) >> 24);
    const auto pieces_of = [&](std::size_t total) {
        std::vector<std::span<const std::byte>> pieces;
        for (std::size_t at = 0, n = 1; at < total; at += n, n = n * 3 + 1) pieces.push_back(std::span(bytes).subspan(at, std::min(n, total - at)));
        pieces.push_back({});  // an empty storage has CRC 0
        return pieces;
    };
    const auto saved = num_threads();
    for (const std::size_t threads : {1, 2}) {
        set_num_threads(threads);
        for (const std::size_t total : {std::size_t{1000}, bytes.size()}) {  // below and above the threshold
            const auto pieces = pieces_of(total);
            io::Crc32Ahead crcs(pieces);
            for (std::size_t i = pieces.size(); i-- > 0;) REQUIRE(crcs[i] == io::crc32(pieces[i]));  // last first
            CHECK(crcs[pieces.size() - 1] == 0u);
        }
        {
            io::Crc32Ahead abandoned(pieces_of(bytes.size()));  // asked for the first only, as a writer that threw
            CHECK(abandoned[0] == io::crc32(std::span(bytes).first(1)));
        }
    }
    set_num_threads(saved);
}
