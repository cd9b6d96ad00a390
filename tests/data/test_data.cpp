// Tests of the data floor: whole-file reads with gzip, idx files, MnistDataset, the transforms
// (Resize checked against OpenCV's arithmetic) and the pipeline (order, shuffle, batch, split).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <typeinfo>
#include <vector>

#include <catch2/catch.hpp>
#include <google/protobuf/io/gzip_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "support/temp_dir.hpp"
#include "mindsave/data/idx.hpp"
#include "mindsave/data/mnist.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/io/read_file.hpp"
#include "support/allocation_counter.hpp"
#include "support/shared_data.hpp"

namespace fs = std::filesystem;
using namespace mindsave;
using namespace mindsave::data;
using Bytes = std::vector<std::uint8_t>;
using Catch::Matchers::Contains;

namespace {

using mindsave::testing::TempDir;

// A fresh folder under the system temp directory, removed with its content at scope exit.

void write_bytes(const fs::path& path, const Bytes& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

Bytes file_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Bytes gzip(const Bytes& data) {
    std::string out;
    {
        google::protobuf::io::StringOutputStream sink(&out);
        google::protobuf::io::GzipOutputStream gz(&sink);
        std::size_t off = 0;
        while (off < data.size()) {
            void* buf = nullptr;
            int size = 0;
            REQUIRE(gz.Next(&buf, &size));
            const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(size), data.size() - off);
            std::memcpy(buf, data.data() + off, n);
            if (n < static_cast<std::size_t>(size)) gz.BackUp(size - static_cast<int>(n));
            off += n;
        }
        REQUIRE(gz.Close());
    }
    return Bytes(out.begin(), out.end());
}

Bytes random_bytes(std::size_t n, std::uint64_t seed) {
    Generator g(seed);
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(g.below(256));
    return b;
}

// The message of an exception of exactly type E thrown by f; fails the test otherwise.
template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        CHECK(typeid(e) == typeid(E));
        return e.what();
    }
    FAIL("expected an exception of type " << typeid(E).name());
    return {};
}

// Fake MNIST files: n images h x w whose pixels encode (sample, y, x), labels (i + offset) % 10.
enum class Spelling { dashed, gz, dotted };
void write_fake_mnist(const fs::path& dir, const std::string& prefix, std::size_t n, std::size_t h, std::size_t w,
                      Spelling spelling, std::size_t offset = 0) {
    std::vector<std::uint8_t> pixels(n * h * w), labels(n);
    for (std::size_t i = 0; i < n; ++i) {
        labels[i] = static_cast<std::uint8_t>((i + offset) % 10);
        for (std::size_t p = 0; p < h * w; ++p) pixels[i * h * w + p] = static_cast<std::uint8_t>(i + offset + p);
    }
    const std::string sep = spelling == Spelling::dotted ? "." : "-";
    const std::string ext = spelling == Spelling::gz ? ".gz" : "";
    const fs::path images = dir / (prefix + "-images" + sep + "idx3-ubyte" + ext);
    const fs::path label_file = dir / (prefix + "-labels" + sep + "idx1-ubyte" + ext);
    write_idx(images, IdxArray::of<std::uint8_t>({n, h, w}, pixels));
    write_idx(label_file, IdxArray::of<std::uint8_t>({n}, labels));
    if (spelling == Spelling::gz) {
        write_bytes(images, gzip(file_bytes(images)));
        write_bytes(label_file, gzip(file_bytes(label_file)));
    }
}

// Samples whose label is their index and whose pixels all equal index % 256.
SampleArrays counting_samples(std::size_t n, std::size_t h = 2, std::size_t w = 3, std::size_t c = 1) {
    SampleArrays s;
    s.count = n, s.height = h, s.width = w, s.channels = c;
    s.images.resize(n * h * w * c);
    s.labels.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        s.labels[i] = static_cast<std::int32_t>(i);
        std::fill_n(s.images.begin() + static_cast<std::ptrdiff_t>(i * h * w * c), h * w * c,
                    static_cast<std::uint8_t>(i));
    }
    return s;
}

template <class D>
std::vector<std::int32_t> epoch_labels(D& dataset, std::size_t epoch) {
    dataset.reset(epoch);
    Batch b;
    std::vector<std::int32_t> out;
    while (dataset.next(b)) out.insert(out.end(), b.labels.begin(), b.labels.end());
    return out;
}

bool is_permutation_of_iota(std::vector<std::int32_t> v, std::size_t n) {
    std::sort(v.begin(), v.end());
    std::vector<std::int32_t> iota(n);
    std::iota(iota.begin(), iota.end(), 0);
    return v == iota;
}

}  // namespace

// ---------------------------------------------------------------- read_file_maybe_gzip

TEST_CASE("read_file_maybe_gzip returns a plain file's bytes unchanged", "[io]") {
    TempDir dir("test_data");
    for (std::size_t n : {0u, 1u, 2u, 100000u}) {
        const Bytes data = random_bytes(n, n);
        write_bytes(dir / "plain.bin", data);
        CHECK(io::read_file_maybe_gzip(dir / "plain.bin") == data);
    }
}

TEST_CASE("read_file_maybe_gzip inflates gzip files, including empty and multi-member ones", "[io]") {
    TempDir dir("test_data");
    const Bytes data = random_bytes(300000, 7);  // spans several 64 KiB inflate buffers
    write_bytes(dir / "data.gz", gzip(data));
    CHECK(io::read_file_maybe_gzip(dir / "data.gz") == data);
    for (std::size_t n : {65535u, 65536u, 65537u, 131072u}) {  // ends on and around buffer boundaries
        INFO("size " << n);
        const Bytes zeros(n, 0);
        write_bytes(dir / "zeros.gz", gzip(zeros));
        CHECK(io::read_file_maybe_gzip(dir / "zeros.gz") == zeros);
        const Bytes noise = random_bytes(n, n);
        write_bytes(dir / "noise.gz", gzip(noise));
        CHECK(io::read_file_maybe_gzip(dir / "noise.gz") == noise);
    }

    write_bytes(dir / "empty.gz", gzip({}));
    CHECK(io::read_file_maybe_gzip(dir / "empty.gz").empty());

    Bytes two = gzip({1, 2, 3});
    const Bytes second = gzip({4, 5});
    two.insert(two.end(), second.begin(), second.end());
    write_bytes(dir / "two.gz", two);
    CHECK(io::read_file_maybe_gzip(dir / "two.gz") == Bytes{1, 2, 3, 4, 5});
}

TEST_CASE("read_file_maybe_gzip throws FileError naming the path and the system error", "[io]") {
    TempDir dir("test_data");
    const auto missing = message_of<FileError>([&] { io::read_file_maybe_gzip(dir / "nope.idx"); });
    CHECK_THAT(missing, Contains("nope.idx") && Contains("No such file or directory"));
    const auto directory = message_of<FileError>([&] { io::read_file_maybe_gzip(dir.path); });
    CHECK_THAT(directory, Contains(dir.path.string()) && Contains("directory"));
}

TEST_CASE("read_file_maybe_gzip throws FormatError for a gzip stream truncated anywhere", "[io]") {
    TempDir dir("test_data");
    const Bytes full = gzip(random_bytes(200000, 3));
    for (std::size_t cut : {std::size_t{2}, std::size_t{3}, std::size_t{10}, full.size() / 2, full.size() - 8,
                            full.size() - 5, full.size() - 1}) {
        INFO("cut at " << cut << " of " << full.size());
        write_bytes(dir / "cut.gz", Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut)));
        const auto msg = message_of<FormatError>([&] { io::read_file_maybe_gzip(dir / "cut.gz"); });
        CHECK_THAT(msg, Contains("cut.gz") && Contains("truncated gzip stream"));
    }
}

TEST_CASE("read_file_maybe_gzip throws FormatError for corrupt gzip data and trailing garbage", "[io]") {
    TempDir dir("test_data");
    Bytes bad_crc = gzip(random_bytes(5000, 4));
    bad_crc[bad_crc.size() - 8] ^= 0xff;  // first byte of the CRC-32 trailer
    write_bytes(dir / "crc.gz", bad_crc);
    CHECK_THAT(message_of<FormatError>([&] { io::read_file_maybe_gzip(dir / "crc.gz"); }),
               Contains("crc.gz") && Contains("corrupt gzip stream"));

    Bytes bad_block = gzip(Bytes(5000, 42));
    bad_block[10] = 0xff;  // the first deflate block header: 0b11 is a reserved block type
    write_bytes(dir / "block.gz", bad_block);
    CHECK_THAT(message_of<FormatError>([&] { io::read_file_maybe_gzip(dir / "block.gz"); }),
               Contains("block.gz") && Contains("corrupt gzip stream"));

    Bytes trailing = gzip({1, 2, 3});
    trailing.insert(trailing.end(), {'j', 'u', 'n', 'k'});
    write_bytes(dir / "trailing.gz", trailing);
    CHECK_THAT(message_of<FormatError>([&] { io::read_file_maybe_gzip(dir / "trailing.gz"); }),
               Contains("trailing.gz") && Contains("after the end of the gzip stream"));
}

// ---------------------------------------------------------------- idx

TEST_CASE("idx arrays of every element type round-trip through write_idx and read_idx, plain and gzip", "[idx]") {
    TempDir dir("test_data");
    auto round_trip = [&](const IdxArray& a, const std::string& name) {
        write_idx(dir / name, a);
        const IdxArray plain = read_idx(dir / name);
        CHECK(plain.dtype == a.dtype);
        CHECK(plain.dims == a.dims);
        CHECK(plain.data == a.data);
        write_bytes(dir / (name + ".gz"), gzip(file_bytes(dir / name)));
        const IdxArray zipped = read_idx(dir / (name + ".gz"));
        CHECK(zipped.dims == a.dims);
        CHECK(zipped.data == a.data);
    };
    const std::vector<std::uint8_t> u8{0, 1, 127, 128, 255, 9};
    const std::vector<std::int8_t> i8{-128, -1, 0, 1, 127, 5};
    const std::vector<std::int16_t> i16{-32768, -2, 0, 258, 32767, 1};
    const std::vector<std::int32_t> i32{-2147483647 - 1, -3, 0, 16909060, 2147483647, 7};
    const std::vector<float> f32{-1.5f, 0.f, 3.25f, 1e-30f, 6e30f, 0.1f};
    const std::vector<double> f64{-1.5, 0.0, 3.25, 1e-300, 6e300, 0.1};
    round_trip(IdxArray::of<std::uint8_t>({2, 3}, u8), "u8.idx");
    round_trip(IdxArray::of<std::int8_t>({6}, i8), "i8.idx");
    round_trip(IdxArray::of<std::int16_t>({3, 2}, i16), "i16.idx");
    round_trip(IdxArray::of<std::int32_t>({1, 2, 3}, i32), "i32.idx");
    round_trip(IdxArray::of<float>({1, 1, 1, 1, 1, 1, 1, 6}, f32), "f32.idx");
    round_trip(IdxArray::of<double>({6, 1}, f64), "f64.idx");
    round_trip(IdxArray::of<std::uint8_t>({4, 0, 2}, std::vector<std::uint8_t>{}), "empty.idx");
    CHECK(read_idx(dir / "i32.idx").values<std::int32_t>() == i32);
    CHECK(read_idx(dir / "f64.idx.gz").values<double>() == f64);
    CHECK_THROWS_AS(read_idx(dir / "f64.idx").values<float>(), DTypeError);
}

TEST_CASE("write_idx stores the magic, dimensions and elements big-endian", "[idx]") {
    TempDir dir("test_data");
    write_idx(dir / "a.idx", IdxArray::of<std::int16_t>({2, 1}, std::vector<std::int16_t>{0x0102, -2}));
    CHECK(file_bytes(dir / "a.idx") ==
          Bytes{0, 0, 0x0b, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0x01, 0x02, 0xff, 0xfe});
    CHECK_THROWS_AS(write_idx(dir / "b.idx", IdxArray::of<std::uint8_t>({3}, std::vector<std::uint8_t>{1, 2})),
                    ShapeError);
    CHECK_THROWS_AS(write_idx(dir / "c.idx", IdxArray::of<std::int64_t>({1}, std::vector<std::int64_t>{1})),
                    DTypeError);
}

TEST_CASE("read_idx rejects a file that is not idx, naming the file and the bytes found", "[idx]") {
    TempDir dir("test_data");
    write_bytes(dir / "page.html", {'<', '!', 'D', 'O', 'C', 'T', 'Y', 'P', 'E'});
    CHECK_THAT(message_of<FormatError>([&] { read_idx(dir / "page.html"); }),
               Contains("page.html") && Contains("not an idx file: expected bytes 00 00 <type> <ndim>, found 3c 21 44 4f"));
    write_bytes(dir / "empty.idx", {});
    CHECK_THAT(message_of<FormatError>([&] { read_idx(dir / "empty.idx"); }),
               Contains("empty.idx") && Contains("not an idx file"));
}

TEST_CASE("read_idx rejects unknown element types and dimension counts outside 1..8", "[idx]") {
    TempDir dir("test_data");
    write_bytes(dir / "type.idx", {0, 0, 0x0a, 1, 0, 0, 0, 0});
    CHECK_THAT(message_of<FormatError>([&] { read_idx(dir / "type.idx"); }),
               Contains("type.idx") && Contains("unknown idx element type 0x0a"));
    write_bytes(dir / "ndim0.idx", {0, 0, 0x08, 0});
    CHECK_THAT(message_of<FormatError>([&] { read_idx(dir / "ndim0.idx"); }),
               Contains("ndim0.idx") && Contains("dimension count 0"));
    Bytes nine{0, 0, 0x08, 9};
    nine.resize(4 + 36 + 1, 0);
    write_bytes(dir / "ndim9.idx", nine);
    CHECK_THAT(message_of<FormatError>([&] { read_idx(dir / "ndim9.idx"); }),
               Contains("ndim9.idx") && Contains("dimension count 9"));
}

TEST_CASE("read_idx reports truncation at every offset of a file", "[idx]") {
    TempDir dir("test_data");
    write_idx(dir / "full.idx", IdxArray::of<std::int32_t>({2, 3}, std::vector<std::int32_t>{1, 2, 3, 4, 5, 6}));
    const Bytes full = file_bytes(dir / "full.idx");
    REQUIRE(full.size() == 4 + 8 + 24);
    for (std::size_t cut = 0; cut < full.size(); ++cut) {
        INFO("cut at " << cut);
        write_bytes(dir / "cut.idx", Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut)));
        const auto msg = message_of<FormatError>([&] { read_idx(dir / "cut.idx"); });
        CHECK_THAT(msg, Contains("cut.idx"));
        if (cut < 4) CHECK_THAT(msg, Contains("not an idx file"));
        else if (cut < 12) CHECK_THAT(msg, Contains("truncated idx header"));
        else CHECK_THAT(msg, Contains("truncated idx data") && Contains("need 24 bytes") &&
                                 Contains("has " + std::to_string(cut - 12)));
    }
    // The same through gzip: the content is complete gzip but short idx data.
    write_bytes(dir / "cut.idx.gz", gzip(Bytes(full.begin(), full.end() - 3)));
    CHECK_THAT(message_of<FormatError>([&] { read_idx(dir / "cut.idx.gz"); }),
               Contains("cut.idx.gz") && Contains("truncated idx data"));
    // And a truncated gzip stream.
    const Bytes zipped = gzip(full);
    write_bytes(dir / "short.idx.gz", Bytes(zipped.begin(), zipped.end() - 6));
    CHECK_THAT(message_of<FormatError>([&] { read_idx(dir / "short.idx.gz"); }),
               Contains("short.idx.gz") && Contains("truncated gzip stream"));
}

TEST_CASE("read_idx reports trailing bytes after the data", "[idx]") {
    TempDir dir("test_data");
    write_bytes(dir / "long.idx", {0, 0, 0x08, 1, 0, 0, 0, 2, 7, 8, 9});
    CHECK_THAT(message_of<FormatError>([&] { read_idx(dir / "long.idx"); }),
               Contains("long.idx") && Contains("1 trailing bytes") && Contains("need 2 bytes"));
}

TEST_CASE("read_idx checks huge dimensions against the content before allocating", "[idx]") {
    TempDir dir("test_data");
    Bytes overflow{0, 0, 0x0e, 8};  // eight dimensions of 2^32-1 doubles: the product overflows 64 bits
    for (int i = 0; i < 8; ++i) overflow.insert(overflow.end(), {0xff, 0xff, 0xff, 0xff});
    overflow.push_back(1);
    write_bytes(dir / "overflow.idx", overflow);
    CHECK_THAT(message_of<FormatError>([&] { read_idx(dir / "overflow.idx"); }),
               Contains("overflow.idx") && Contains("more than 2^64"));
    write_bytes(dir / "big.idx", {0, 0, 0x08, 2, 0, 1, 0, 0, 0, 1, 0, 0, 1, 2, 3});  // 65536 x 65536 bytes claimed
    CHECK_THAT(message_of<FormatError>([&] { read_idx(dir / "big.idx"); }),
               Contains("big.idx") && Contains("need 4294967296 bytes") && Contains("has 3"));
}

// ---------------------------------------------------------------- MnistDataset

TEST_CASE("MnistDataset finds plain, gzip and dotted file names", "[mnist]") {
    for (Spelling spelling : {Spelling::dashed, Spelling::gz, Spelling::dotted}) {
        TempDir dir("test_data");
        write_fake_mnist(dir.path, "train", 5, 4, 3, spelling);
        write_fake_mnist(dir.path, "t10k", 2, 4, 3, spelling, 100);
        const MnistDataset train(dir.path, "train");
        CHECK(train.size() == 5);
        CHECK(train.height() == 4);
        CHECK(train.width() == 3);
        CHECK(train.label(3) == 3);
        const auto img = train.image(2);
        REQUIRE(img.size() == 12);
        CHECK(img[0] == 2);
        CHECK(img[11] == 13);
        const MnistDataset test(dir.path, "test");
        CHECK(test.size() == 2);
        CHECK(test.label(1) == 1);  // (1 + 100) % 10
        CHECK_THROWS_AS(test.image(2), std::out_of_range);
    }
}

TEST_CASE("MnistDataset usage all concatenates train then test", "[mnist]") {
    TempDir dir("test_data");
    write_fake_mnist(dir.path, "train", 3, 2, 2, Spelling::dashed);
    write_fake_mnist(dir.path, "t10k", 2, 2, 2, Spelling::gz, 5);
    const MnistDataset all(dir.path);
    REQUIRE(all.size() == 5);
    CHECK(all.label(2) == 2);
    CHECK(all.label(3) == 5);
    CHECK(all.image(3)[0] == 5);
    CHECK(all.get_dataset_size() == 5);
}

TEST_CASE("MnistDataset reports a missing file with the names tried and how to get the data", "[mnist]") {
    TempDir dir("test_data");
    write_fake_mnist(dir.path, "t10k", 2, 2, 2, Spelling::dashed);
    const auto msg = message_of<FileError>([&] { MnistDataset(dir.path, "train"); });
    CHECK_THAT(msg, Contains("train-images-idx3-ubyte") && Contains("train-images-idx3-ubyte.gz") &&
                        Contains("train-images.idx3-ubyte") && Contains("--data DIR") &&
                        Contains("dataset-fashion-mnist"));
    const auto no_dir = message_of<FileError>([&] { MnistDataset(dir / "absent", "test"); });
    CHECK_THAT(no_dir, Contains("absent") && Contains("--data DIR"));
}

TEST_CASE("MnistDataset reports image and label count mismatch naming both files and counts", "[mnist]") {
    TempDir dir("test_data");
    write_fake_mnist(dir.path, "train", 4, 2, 2, Spelling::dashed);
    write_idx(dir / "train-labels-idx1-ubyte", IdxArray::of<std::uint8_t>({3}, std::vector<std::uint8_t>{1, 2, 3}));
    const auto msg = message_of<FormatError>([&] { MnistDataset(dir.path, "train"); });
    CHECK_THAT(msg, Contains("train-images-idx3-ubyte") && Contains("train-labels-idx1-ubyte") &&
                        Contains("4 images") && Contains("3 labels"));
}

TEST_CASE("MnistDataset rejects labels that are not 1-D and images that are not 3-D", "[mnist]") {
    TempDir dir("test_data");
    write_fake_mnist(dir.path, "train", 4, 2, 2, Spelling::dashed);
    write_idx(dir / "train-labels-idx1-ubyte", IdxArray::of<std::uint8_t>({2, 2}, std::vector<std::uint8_t>(4)));
    CHECK_THAT(message_of<FormatError>([&] { MnistDataset(dir.path, "train"); }),
               Contains("train-labels-idx1-ubyte") && Contains("1-D"));
    write_fake_mnist(dir.path, "train", 4, 2, 2, Spelling::dashed);
    write_idx(dir / "train-images-idx3-ubyte", IdxArray::of<std::uint8_t>({4, 4}, std::vector<std::uint8_t>(16)));
    CHECK_THAT(message_of<FormatError>([&] { MnistDataset(dir.path, "train"); }),
               Contains("train-images-idx3-ubyte") && Contains("3-D"));
}

TEST_CASE("MnistDataset rejects an unknown usage with ConfigError", "[mnist]") {
    TempDir dir("test_data");
    CHECK_THAT(message_of<ConfigError>([&] { MnistDataset(dir.path, "valid"); }),
               Contains("\"train\", \"test\" or \"all\"") && Contains("valid"));
}

TEST_CASE("MnistDataset reads the real MNIST test set", "[mnist][shared]") {
    const fs::path dir = mindsave::testing::require_shared("data/mnist");
    const MnistDataset test(dir, "test");
    REQUIRE(test.size() == 10000);
    CHECK(test.height() == 28);
    CHECK(test.width() == 28);
    CHECK(test.label(0) == 7);
    CHECK(test.label(1) == 2);
    CHECK(test.label(2) == 1);
    std::array<std::size_t, 10> histogram{};
    for (std::size_t i = 0; i < test.size(); ++i) ++histogram.at(static_cast<std::size_t>(test.label(i)));
    CHECK(histogram == std::array<std::size_t, 10>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009});
    const auto img = test.image(0);
    CHECK(std::accumulate(img.begin(), img.begin() + 28, 0) == 0);  // the top row of a digit is blank
    CHECK(*std::max_element(img.begin(), img.end()) == 255);

    auto batches = test.map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0},
                            vision::Rescale{1 / 0.3081, -1 * 0.1307 / 0.3081}, vision::HWC2CHW{})
                       .batch(32, true);
    CHECK(batches.get_dataset_size() == 312);
}

TEST_CASE("MnistDataset with shuffle samples a fresh full permutation each epoch, as MindSpore's default",
          "[mnist][shared]") {
    const fs::path dir = mindsave::testing::require_shared("data/mnist");
    const MnistDataset ordered(dir, "test"), shuffled(dir, "test", /*shuffle=*/true, 5);
    auto in_order = ordered.batch(1000), a = shuffled.batch(1000), b = MnistDataset(dir, "test", true, 5).batch(1000);
    const auto file_order = epoch_labels(in_order, 0);
    const auto e0 = epoch_labels(a, 0), e1 = epoch_labels(a, 1);
    CHECK(e0.size() == 10000);
    CHECK(e0 != file_order);
    CHECK(e0 != e1);
    CHECK(e0 == epoch_labels(b, 0));  // same seed, same order
    auto sorted = [](std::vector<std::int32_t> v) { std::sort(v.begin(), v.end()); return v; };
    CHECK(sorted(e0) == sorted(file_order));
}

TEST_CASE("Fashion-MNIST from the Debian package reads 60000 train and 10000 test samples", "[mnist][system]") {
    const fs::path dir = mindsave::testing::require_fashion_mnist();
    const MnistDataset train(dir, "train");
    const MnistDataset test(dir, "test");
    REQUIRE(train.size() == 60000);
    REQUIRE(test.size() == 10000);
    CHECK(train.height() == 28);
    CHECK(train.width() == 28);
    CHECK(train.label(0) == 9);  // an ankle boot
    std::array<std::size_t, 10> per_class{};
    for (std::size_t i = 0; i < train.size(); ++i) ++per_class.at(static_cast<std::size_t>(train.label(i)));
    for (std::size_t c : per_class) CHECK(c == 6000);

    auto batches = train.map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0},
                             vision::Rescale{1 / 0.3081, -1 * 0.1307 / 0.3081}, vision::HWC2CHW{})
                       .shuffle(10000, 1)
                       .batch(32, true);
    CHECK(batches.get_dataset_size() == 1875);
    Batch b;
    batches.reset(0);  // warm up: first-batch allocations and tables
    REQUIRE(batches.next(b));
    // After the first batch, an epoch's batches allocate nothing: no per-sample or per-batch buffers
    // (its speed is measured in benchmarks/, not here).
    batches.reset(1);
    const std::size_t allocations_before = mindsave::testing::allocation_count();
    std::size_t steps = 0;
    while (batches.next(b)) ++steps;
    const std::size_t allocations = mindsave::testing::allocation_count() - allocations_before;
    CHECK(steps == 1875);
    CHECK(allocations == 0);
    CHECK(b.images.shape() == Tensor::shape_type{32, 1, 32, 32});
}

// ---------------------------------------------------------------- transforms

namespace {

template <class T>
Image<T> make_image(std::size_t h, std::size_t w, std::size_t c, std::uint64_t seed) {
    Image<T> img;
    img.reshape(h, w, c);
    Generator g(seed);
    for (auto& v : img.data) {
        if constexpr (std::is_same_v<T, float>) v = static_cast<float>(g.uniform());
        else v = static_cast<T>(g.below(256));
    }
    return img;
}

// OpenCV's INTER_LINEAR written the obvious way in double: half-pixel centres, clamped borders.
template <class T>
std::vector<double> reference_resize(const Image<T>& in, std::size_t oh, std::size_t ow) {
    struct Tap {
        std::size_t i0, i1;
        double f;
    };
    auto tap = [](std::size_t d, std::size_t n_in, std::size_t n_out) {
        double s = (static_cast<double>(d) + 0.5) * static_cast<double>(n_in) / static_cast<double>(n_out) - 0.5;
        s = std::clamp(s, 0.0, static_cast<double>(n_in - 1));
        const auto i0 = static_cast<std::size_t>(std::floor(s));
        return Tap{i0, std::min(i0 + 1, n_in - 1), s - static_cast<double>(i0)};
    };
    std::vector<double> out(oh * ow * in.channels);
    for (std::size_t y = 0; y < oh; ++y)
        for (std::size_t x = 0; x < ow; ++x)
            for (std::size_t c = 0; c < in.channels; ++c) {
                const Tap ty = tap(y, in.height, oh), tx = tap(x, in.width, ow);
                auto px = [&](std::size_t yy, std::size_t xx) { return static_cast<double>(in.at(yy, xx, c)); };
                const double top = (1 - tx.f) * px(ty.i0, tx.i0) + tx.f * px(ty.i0, tx.i1);
                const double bottom = (1 - tx.f) * px(ty.i1, tx.i0) + tx.f * px(ty.i1, tx.i1);
                out[(y * ow + x) * in.channels + c] = (1 - ty.f) * top + ty.f * bottom;
            }
    return out;
}

}  // namespace

TEST_CASE("Resize reproduces OpenCV's fixed-point INTER_LINEAR on a 2x2 to 4x4 upscale worked by hand",
          "[transforms]") {
    // Columns: x=0 and x=3 are clamped to one pixel, x=1 weighs (1536, 512), x=2 (512, 1536).
    // Rows: y=0 reads row 0 twice with weights (512, 1536), y=1 and y=2 blend rows 0 and 1,
    // y=3 reads row 1 twice. E.g. (y=1, x=1): row sums 0*1536+100*512 = 51200 and
    // 200*1536+255*512 = 437760; ((1536*(51200>>4))>>16) + ((512*(437760>>4))>>16) = 75 + 213;
    // (288 + 2) >> 2 = 72.
    Image<std::uint8_t> in;
    in.reshape(2, 2, 1);
    in.data = {0, 100, 200, 255};
    vision::Resize resize{4, 4};
    Image<std::uint8_t> out;
    resize(in, out);
    CHECK(out.height == 4);
    CHECK(out.width == 4);
    CHECK(out.data == std::vector<std::uint8_t>{0, 25, 75, 100, 50, 72, 117, 139, 150, 167, 200, 216, 200, 214, 241, 255});
}

TEST_CASE("Resize truncates like OpenCV where exact rounding would differ", "[transforms]") {
    // A 2x1 column [1; 7] to 5x1. Row 1 has fy = 0.1f, weights lrint(0.9f*2048) = 1843 and
    // lrint(0.1f*2048) = 205; the horizontal pass gives 1*2048 and 7*2048, >> 4: 128 and 896.
    // (1843*128) >> 16 = 3 and (205*896) >> 16 = 2, so (3 + 2 + 2) >> 2 = 1, where exact
    // arithmetic gives 0.9*1 + 0.1*7 = 1.6 and would round to 2. Row 0 (fy = -0.3 -> sy = -1,
    // weights 614 and 1434 on row 0 twice) stays 1; rows 2..4 give 4, 6 and 7.
    Image<std::uint8_t> in;
    in.reshape(2, 1, 1);
    in.data = {1, 7};
    Image<std::uint8_t> out;
    vision::Resize{5, 1}(in, out);
    CHECK(out.data == std::vector<std::uint8_t>{1, 1, 4, 6, 7});
}

TEST_CASE("Resize on uint8 stays within 1 of a float bilinear reference across sizes and channels",
          "[transforms]") {
    struct Case {
        std::size_t h, w, c, oh, ow;
    };
    for (const Case k : {Case{28, 28, 1, 32, 32}, Case{32, 32, 1, 28, 28}, Case{5, 7, 3, 13, 4}, Case{17, 3, 1, 3, 17},
                         Case{1, 1, 1, 3, 3}, Case{4, 4, 2, 4, 4}, Case{6, 8, 1, 3, 4}, Case{9, 11, 4, 224, 200}}) {
        INFO(k.h << "x" << k.w << "x" << k.c << " -> " << k.oh << "x" << k.ow);
        const auto in = make_image<std::uint8_t>(k.h, k.w, k.c, k.h * 100 + k.ow);
        vision::Resize resize{k.oh, k.ow};
        Image<std::uint8_t> out;
        resize(in, out);
        REQUIRE(out.size() == k.oh * k.ow * k.c);
        const auto ref = reference_resize(in, k.oh, k.ow);
        std::size_t exact = 0;
        for (std::size_t i = 0; i < ref.size(); ++i) {
            const double expected = std::round(ref[i]);
            CHECK(std::abs(out.data[i] - expected) <= 1.0);
            exact += out.data[i] == expected;
        }
        CHECK(exact >= ref.size() * 3 / 4);  // OpenCV's truncations are off by one on ~12% of pixels
    }
}

TEST_CASE("Resize copies at the same size and averages 2x2 blocks at exactly half size", "[transforms]") {
    const auto in = make_image<std::uint8_t>(6, 8, 3, 11);
    Image<std::uint8_t> same, half;
    vision::Resize{6, 8}(in, same);
    CHECK(same.data == in.data);
    vision::Resize{3, 4}(in, half);
    for (std::size_t y = 0; y < 3; ++y)
        for (std::size_t x = 0; x < 4; ++x)
            for (std::size_t c = 0; c < 3; ++c) {
                const int sum = in.at(2 * y, 2 * x, c) + in.at(2 * y, 2 * x + 1, c) + in.at(2 * y + 1, 2 * x, c) +
                                in.at(2 * y + 1, 2 * x + 1, c);
                CHECK(half.at(y, x, c) == (sum + 2) >> 2);  // OpenCV's INTER_AREA fast path for this case
            }
}

TEST_CASE("Resize on float images matches the float bilinear reference", "[transforms]") {
    const auto in = make_image<float>(7, 5, 2, 5);
    vision::Resize resize{9, 12};
    Image<float> out;
    resize(in, out);
    const auto ref = reference_resize(in, 9, 12);
    for (std::size_t i = 0; i < ref.size(); ++i) CHECK(out.data[i] == Approx(ref[i]).margin(1e-5));
}

TEST_CASE("Resize and HWC2CHW reject images in the wrong layout; Resize rejects a zero size", "[transforms]") {
    auto in = make_image<std::uint8_t>(2, 2, 1, 1);
    in.layout = Layout::CHW;
    Image<std::uint8_t> out;
    vision::Resize resize{4, 4};
    CHECK_THROWS_AS(resize(in, out), ConfigError);
    CHECK_THROWS_AS(vision::HWC2CHW{}(in, out), ConfigError);
    CHECK_THROWS_AS(vision::Resize(0, 4), ConfigError);
}

TEST_CASE("Rescale computes in * rescale + shift in float32 and keeps the layout", "[transforms]") {
    Image<std::uint8_t> in;
    in.reshape(1, 4, 1, Layout::CHW);
    in.data = {0, 1, 2, 255};
    Image<float> out;
    vision::Rescale{0.5, 1.0}(in, out);
    CHECK(out.data == std::vector<float>{1.0f, 1.5f, 2.0f, 128.5f});  // exact in binary
    CHECK(out.layout == Layout::CHW);
    vision::Rescale{1.0 / 255.0, 0.0}(in, out);
    CHECK(out.data[0] == 0.0f);
    CHECK(out.data[3] == Approx(1.0f).margin(1e-7));
    Image<float> normalized;
    vision::Rescale{1 / 0.3081, -1 * 0.1307 / 0.3081}(out, normalized);
    CHECK(normalized.data[0] == Approx(-0.1307 / 0.3081).margin(1e-6));
    CHECK(normalized.data[3] == Approx((1.0 - 0.1307) / 0.3081).margin(1e-5));
}

TEST_CASE("HWC2CHW moves channels first without changing any value", "[transforms]") {
    Image<float> in;
    in.reshape(2, 3, 2);
    for (std::size_t i = 0; i < in.size(); ++i) in.data[i] = static_cast<float>(i);
    Image<float> out;
    vision::HWC2CHW{}(in, out);
    CHECK(out.layout == Layout::CHW);
    // HWC element (y, x, c) is at (y*3 + x)*2 + c; CHW puts it at c*6 + y*3 + x.
    CHECK(out.data == std::vector<float>{0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11});
    for (std::size_t y = 0; y < 2; ++y)
        for (std::size_t x = 0; x < 3; ++x)
            for (std::size_t c = 0; c < 2; ++c) CHECK(out.at(y, x, c) == in.at(y, x, c));
}

TEST_CASE("TypeCast converts element types and clamps floats going to integers", "[transforms]") {
    Image<float> in;
    in.reshape(1, 5, 1);
    in.data = {-5.0f, 3.7f, 300.0f, std::nanf(""), 255.0f};
    Image<std::uint8_t> bytes;
    transforms::TypeCast<std::uint8_t>{}(in, bytes);
    CHECK(bytes.data == std::vector<std::uint8_t>{0, 3, 255, 0, 255});
    Image<float> back;
    transforms::TypeCast<float>{}(bytes, back);
    CHECK(back.data == std::vector<float>{0, 3, 255, 0, 255});
}

// ---------------------------------------------------------------- pipeline

using QuickStart = decltype(std::declval<Pipeline<>>()
                                .map(vision::Resize{32, 32}, vision::Rescale{}, vision::Rescale{}, vision::HWC2CHW{})
                                .batch(32));
static_assert(mindsave::Dataset<QuickStart>, "a batched pipeline models mindsave::Dataset");
static_assert(mindsave::Dataset<decltype(std::declval<Pipeline<>>().batch(1))>);
static_assert(data::detail::chain_valid<std::uint8_t, vision::Resize, vision::Rescale, vision::Rescale, vision::HWC2CHW>());
static_assert(data::detail::chain_valid<std::uint8_t, vision::Rescale, vision::Resize, transforms::TypeCast<std::uint8_t>>());
static_assert(!data::detail::chain_valid<std::uint8_t, int>(), "an int is not a transform");
static_assert(!data::detail::chain_valid<std::uint8_t, transforms::TypeCast<std::int32_t>, vision::Resize>(),
              "Resize takes uint8 or float images only");

TEST_CASE("without shuffle a pipeline visits samples in file order, in batches", "[pipeline]") {
    auto batches = Pipeline<>(counting_samples(10)).batch(4);
    CHECK(batches.get_dataset_size() == 3);
    Batch b;
    std::vector<std::size_t> sizes;
    std::vector<std::int32_t> labels;
    while (batches.next(b)) {  // no reset(): the first next() starts epoch 0
        sizes.push_back(b.labels.size());
        CHECK(b.images.shape() == Tensor::shape_type{b.labels.size(), 2, 3, 1});  // NHWC without HWC2CHW
        for (std::size_t k = 0; k < b.labels.size(); ++k) {
            labels.push_back(b.labels(k));
            CHECK(b.images(k, 1, 2, 0) == static_cast<float>(b.labels(k)));
        }
    }
    CHECK(sizes == std::vector<std::size_t>{4, 4, 2});
    CHECK(labels == std::vector<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK_FALSE(batches.next(b));
}

TEST_CASE("batch with drop_remainder drops the short last batch and counts it out of get_dataset_size",
          "[pipeline]") {
    const Pipeline<> p(counting_samples(10));
    CHECK(p.get_dataset_size() == 10);
    auto dropped = p.batch(4, true);
    CHECK(dropped.get_dataset_size() == 2);
    CHECK(epoch_labels(dropped, 0) == std::vector<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7});
    CHECK(p.batch(5, true).get_dataset_size() == 2);
    CHECK(p.batch(5, false).get_dataset_size() == 2);
    CHECK(p.batch(11, true).get_dataset_size() == 0);
    CHECK(p.batch(11, false).get_dataset_size() == 1);
    CHECK_THROWS_AS(p.batch(0), ConfigError);
}

TEST_CASE("shuffle gives a permutation that depends only on (seed, epoch)", "[pipeline]") {
    const Pipeline<> p(counting_samples(100));
    auto a = p.shuffle(100, 42).batch(10);
    auto b = p.shuffle(100, 42).batch(10);
    const auto a0 = epoch_labels(a, 0);
    CHECK(is_permutation_of_iota(a0, 100));
    CHECK(epoch_labels(b, 0) == a0);  // another dataset with the same seed
    const auto a1 = epoch_labels(a, 1);
    CHECK(is_permutation_of_iota(a1, 100));
    CHECK(a1 != a0);
    CHECK(epoch_labels(a, 0) == a0);  // going back to epoch 0 repeats it
    CHECK(epoch_labels(b, 1) == a1);  // epoch 1 without visiting epoch 0 first
    auto other = p.shuffle(100, 43).batch(10);
    CHECK(epoch_labels(other, 0) != a0);
}

TEST_CASE("shuffle's buffer bounds how far ahead an element can come from", "[pipeline]") {
    auto d = Pipeline<>(counting_samples(100)).shuffle(4, 7).batch(100);
    for (std::size_t e = 0; e < 5; ++e) {
        const auto order = epoch_labels(d, e);
        REQUIRE(is_permutation_of_iota(order, 100));
        std::vector<std::int32_t> iota(100);
        std::iota(iota.begin(), iota.end(), 0);
        CHECK(order != iota);
        // The element emitted k-th was among the first k + 4 read.
        for (std::size_t k = 0; k < order.size(); ++k) CHECK(order[k] <= static_cast<std::int32_t>(k) + 3);
    }
}

TEST_CASE("shuffle with a buffer at least the dataset size is a full shuffle", "[pipeline]") {
    auto d = Pipeline<>(counting_samples(100)).shuffle(1000, 5).batch(1);
    std::set<std::int32_t> firsts;
    for (std::size_t e = 0; e < 300; ++e) {
        d.reset(e);
        Batch b;
        REQUIRE(d.next(b));
        firsts.insert(b.labels(0));
    }
    // Any element can come first: 300 uniform draws from 100 leave few values unseen.
    CHECK(firsts.size() >= 90);
    CHECK(*firsts.rbegin() >= 95);
}

TEST_CASE("take keeps the first samples, before or after shuffle, and limits batches", "[pipeline]") {
    const Pipeline<> p(counting_samples(20));
    auto first = p.take(5).batch(2);
    CHECK(first.get_dataset_size() == 3);
    CHECK(epoch_labels(first, 0) == std::vector<std::int32_t>{0, 1, 2, 3, 4});
    auto shuffled_then_taken = p.shuffle(20, 3).take(5).batch(5);
    auto shuffled = p.shuffle(20, 3).batch(20);
    const auto full = epoch_labels(shuffled, 2);
    CHECK(epoch_labels(shuffled_then_taken, 2) == std::vector<std::int32_t>(full.begin(), full.begin() + 5));
    auto taken_then_shuffled = p.take(5).shuffle(5, 3).batch(5);
    CHECK(is_permutation_of_iota(epoch_labels(taken_then_shuffled, 0), 5));
    auto two_batches = p.batch(3).take(2);
    CHECK(two_batches.get_dataset_size() == 2);
    CHECK(epoch_labels(two_batches, 0) == std::vector<std::int32_t>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("split sizes follow MindSpore's rounding and the parts are disjoint", "[pipeline]") {
    const Pipeline<> p(counting_samples(10));
    auto [train, test] = p.split({0.8, 0.2}, false);
    CHECK(train.get_dataset_size() == 8);
    CHECK(test.get_dataset_size() == 2);
    auto tb = test.batch(10);
    CHECK(epoch_labels(tb, 0) == std::vector<std::int32_t>{8, 9});

    auto three = p.split({0.25, 0.25, 0.5}, false);  // 2.5 and 2.5 round to even: 2, 2, 5, +1 to the first
    CHECK(three[0].get_dataset_size() == 3);
    CHECK(three[1].get_dataset_size() == 2);
    CHECK(three[2].get_dataset_size() == 5);
    auto halves = Pipeline<>(counting_samples(7)).split({0.5, 0.5}, false);  // 3.5 -> 4 twice, -1 from the first
    CHECK(halves[0].get_dataset_size() == 3);
    CHECK(halves[1].get_dataset_size() == 4);

    auto [ra, rb] = Pipeline<>(counting_samples(100)).split({0.7, 0.3}, true, 9);
    auto da = ra.batch(100), db = rb.batch(100);
    auto la = epoch_labels(da, 0), lb = epoch_labels(db, 0);
    CHECK(la.size() == 70);
    CHECK(lb.size() == 30);
    std::vector<std::int32_t> all = la;
    all.insert(all.end(), lb.begin(), lb.end());
    CHECK(is_permutation_of_iota(all, 100));  // disjoint, and together every sample
    CHECK(!std::is_sorted(la.begin(), la.end()));
    CHECK(epoch_labels(da, 1) == la);  // fixed across epochs
    auto [again, unused] = Pipeline<>(counting_samples(100)).split({0.7, 0.3}, true, 9);
    auto dagain = again.batch(100);
    CHECK(epoch_labels(dagain, 0) == la);  // fixed by the seed

    CHECK_THROWS_AS(p.split({0.5, 0.6}), ConfigError);
    CHECK_THROWS_AS(p.split({0.99, 0.01}), ConfigError);  // 0.1 of a sample rounds to an empty part
    CHECK_THROWS_AS(p.shuffle(10).split({0.5, 0.5}), ConfigError);
}

TEST_CASE("MnistDataset splits into parts that map, shuffle and batch", "[pipeline][mnist]") {
    TempDir dir("test_data");
    write_fake_mnist(dir.path, "train", 10, 28, 28, Spelling::gz);
    const MnistDataset ds(dir.path, "train");
    auto [tr, te] = ds.split({0.8, 0.2}, true, 1);
    auto train = tr.map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0}, vision::HWC2CHW{})
                     .shuffle(8, 2)
                     .batch(3);
    auto test = te.map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0}, vision::HWC2CHW{}).batch(3);
    CHECK(train.get_dataset_size() == 3);
    CHECK(test.get_dataset_size() == 1);
    auto a = epoch_labels(train, 0), b = epoch_labels(test, 0);
    a.insert(a.end(), b.begin(), b.end());
    CHECK(is_permutation_of_iota(a, 10));  // labels of the fake set are 0..9
}

TEST_CASE("map chains Resize, Rescale and HWC2CHW into NCHW float batches", "[pipeline]") {
    const Pipeline<> p(counting_samples(5, 28, 28));
    auto d = p.map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0},
                   vision::Rescale{1 / 0.3081, -1 * 0.1307 / 0.3081}, vision::HWC2CHW{})
                 .batch(5);
    Batch b;
    REQUIRE(d.next(b));
    REQUIRE(b.images.shape() == Tensor::shape_type{5, 1, 32, 32});
    for (std::size_t k = 0; k < 5; ++k) {
        // Constant images stay constant through OpenCV's resize; then the two rescales in float32.
        const float v = static_cast<float>(k) * static_cast<float>(1.0 / 255.0) * static_cast<float>(1 / 0.3081) +
                        static_cast<float>(-1 * 0.1307 / 0.3081);
        CHECK(b.images(k, 0, 0, 0) == Approx(v).margin(1e-6));
        CHECK(b.images(k, 0, 31, 17) == Approx(v).margin(1e-6));
    }
    // Without HWC2CHW the batch is NHWC; without Rescale the uint8 values arrive as floats.
    auto nhwc = Pipeline<>(counting_samples(3, 4, 4, 3)).map(vision::Resize{2, 6}).batch(3);
    REQUIRE(nhwc.next(b));
    CHECK(b.images.shape() == Tensor::shape_type{3, 2, 6, 3});
    CHECK(b.images(2, 1, 5, 2) == 2.0f);
}

TEST_CASE("next reuses the batch buffers across steps and epochs", "[pipeline]") {
    auto d = Pipeline<>(counting_samples(100, 28, 28))
                 .map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0}, vision::HWC2CHW{})
                 .shuffle(50, 1)
                 .batch(32, true);
    Batch b;
    d.reset(0);
    REQUIRE(d.next(b));
    const float* images = b.images.data();
    const std::int32_t* labels = b.labels.data();
    std::size_t steps = 1;
    for (std::size_t epoch = 0; epoch < 3; ++epoch) {
        if (epoch > 0) d.reset(epoch);
        while (d.next(b)) {
            ++steps;
            CHECK(b.images.data() == images);
            CHECK(b.labels.data() == labels);
        }
    }
    CHECK(steps == 9);
}

// ---------------------------------------------------------------- repeat, shard, random transforms

TEST_CASE("shard() takes MindSpore's DistributedSampler indices: every num_shards-th, wrapping to fill", "[pipeline][shard]") {
    // Worked by hand for 10 samples on 4 shards: ceil(10 / 4) = 3 each, shard k visits k, k + 4, k + 8 (mod 10).
    const std::vector<std::vector<std::int32_t>> expected{{0, 4, 8}, {1, 5, 9}, {2, 6, 0}, {3, 7, 1}};
    for (std::size_t k = 0; k < 4; ++k) {
        auto d = Pipeline<>(counting_samples(10)).shard(4, k).batch(2);
        CHECK(d.get_dataset_size() == 2);
        CHECK(epoch_labels(d, 0) == expected[k]);
    }
    // An even split has no wrap; one shard is the whole set.
    auto even = Pipeline<>(counting_samples(6)).shard(3, 2).batch(5);
    CHECK(epoch_labels(even, 0) == std::vector<std::int32_t>{2, 5});
    auto whole = Pipeline<>(counting_samples(5)).shard(1, 0).batch(5);
    CHECK(epoch_labels(whole, 0) == std::vector<std::int32_t>{0, 1, 2, 3, 4});
    CHECK_THROWS_AS(Pipeline<>(counting_samples(5)).shard(0, 0), ConfigError);
    CHECK_THROWS_AS(Pipeline<>(counting_samples(5)).shard(2, 2), ConfigError);
}

TEST_CASE("Shuffled shards of one epoch partition the samples and draw a new order each epoch", "[pipeline][shard]") {
    const std::size_t n = 103, shards = 4;
    std::vector<std::vector<std::int32_t>> first_epoch;
    for (std::size_t epoch = 0; epoch < 3; ++epoch) {
        std::vector<std::int32_t> all;
        for (std::size_t k = 0; k < shards; ++k) {
            auto d = Pipeline<>(counting_samples(n)).shard(shards, k, true, 42).batch(7);
            const auto labels = epoch_labels(d, epoch);
            CHECK(labels.size() == 26);  // ceil(103 / 4)
            if (epoch == 0) first_epoch.push_back(labels);
            else CHECK(labels != first_epoch[k]);
            all.insert(all.end(), labels.begin(), labels.end());
        }
        // 104 slots for 103 samples: every sample once, and one sample again (the wrap).
        std::sort(all.begin(), all.end());
        const auto dup = std::adjacent_find(all.begin(), all.end());
        REQUIRE(dup != all.end());
        all.erase(dup);
        CHECK(is_permutation_of_iota(all, n));
    }
    // The same arguments give the same shard in a fresh pipeline (every rank computes it alone).
    auto again = Pipeline<>(counting_samples(n)).shard(shards, 2, true, 42).batch(7);
    CHECK(epoch_labels(again, 0) == first_epoch[2]);
}

TEST_CASE("repeat() visits the samples again, reshuffling each repetition of a shuffled pipeline", "[pipeline][repeat]") {
    auto plain = Pipeline<>(counting_samples(5)).take(3).repeat(2).batch(4);
    CHECK(plain.get_dataset_size() == 2);
    CHECK(epoch_labels(plain, 0) == std::vector<std::int32_t>{0, 1, 2, 0, 1, 2});

    auto shuffled = Pipeline<>(counting_samples(20)).shuffle(20, 5).repeat(3).batch(60);
    const auto e0 = epoch_labels(shuffled, 0);
    REQUIRE(e0.size() == 60);
    const std::vector<std::int32_t> r0(e0.begin(), e0.begin() + 20), r1(e0.begin() + 20, e0.begin() + 40);
    CHECK(is_permutation_of_iota(r0, 20));
    CHECK(is_permutation_of_iota(r1, 20));
    CHECK(r0 != r1);
    CHECK(epoch_labels(shuffled, 1) != e0);
    CHECK(epoch_labels(shuffled, 0) == e0);  // replayable

    // Batches repeated: repetition r of epoch e is the batched epoch e * count + r.
    auto batched = Pipeline<>(counting_samples(7)).shuffle(7, 1).batch(3, true);
    auto twice = batched.repeat(2);
    CHECK(twice.get_dataset_size() == 4);
    auto a = epoch_labels(batched, 2), b = epoch_labels(batched, 3);
    a.insert(a.end(), b.begin(), b.end());
    CHECK(epoch_labels(twice, 1) == a);
    CHECK_THROWS_AS(twice.take(1), ConfigError);
    CHECK_THROWS_AS(Pipeline<>(counting_samples(4)).repeat(0), ConfigError);
    CHECK_THROWS_AS(Pipeline<>(counting_samples(4)).repeat(2).split({0.5, 0.5}), ConfigError);
}

namespace {
// A random transform that records the seed it was given for each sample.
struct SeedRecorder {
    std::shared_ptr<std::vector<std::uint64_t>> seeds = std::make_shared<std::vector<std::uint64_t>>();
    template <class In>
    using output_t = In;
    template <class In>
    void operator()(const Image<In>& in, Image<In>& out, std::uint64_t seed) {
        seeds->push_back(seed);
        out = in;
    }
};
}  // namespace

TEST_CASE("A random transform gets a seed per sample that repeats when its epoch is replayed", "[pipeline][random]") {
    static_assert(RandomTransformOn<SeedRecorder, std::uint8_t>);
    static_assert(TransformOn<SeedRecorder, std::uint8_t>);
    SeedRecorder rec;
    auto d = Pipeline<>(counting_samples(6)).map(rec, vision::Rescale{}).batch(4);
    epoch_labels(d, 0);
    const std::vector<std::uint64_t> first = *rec.seeds;
    REQUIRE(first.size() == 6);
    CHECK(std::set<std::uint64_t>(first.begin(), first.end()).size() == 6);
    rec.seeds->clear();
    epoch_labels(d, 1);
    CHECK(*rec.seeds != first);
    rec.seeds->clear();
    epoch_labels(d, 0);
    CHECK(*rec.seeds == first);
}
