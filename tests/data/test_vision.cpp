// mindsave/data/vision/ (the optional image component): JPEG and PNG decoding against independent decoders
// (Pillow, OpenCV) on the real dog / croissant photos and on PNGs of every colour type; hostile files give
// FormatErrors; ImageFolderDataset's classes, labels, order, sharding and decode options.
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/data/vision.hpp"
#include "mindsave/mindsave.hpp"
#include "support/allocation_counter.hpp"
#include "support/shared_data.hpp"
#include "support/temp_dir.hpp"

using namespace mindsave;
using namespace mindsave::data;
namespace fs = std::filesystem;

namespace {

int run(const std::string& command) {
    const int status = std::system((command + " >/dev/null").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// vision_reference.py, the independent side (python3-pil, python3-opencv, python3-numpy).
void reference(const std::string& args) {
    static const bool ok = run("/usr/bin/python3 -c 'import PIL, cv2, numpy' 2>/dev/null") == 0;
    testing::require_tool(ok, "python3-pil, python3-opencv and python3-numpy",
                          "apt-get install python3-pil python3-opencv python3-numpy");
    REQUIRE(run("/usr/bin/python3 " MINDSAVE_SOURCE_DIR "/tests/data/vision_reference.py " + args) == 0);
}

std::vector<std::uint8_t> file_bytes(const fs::path& p) {
    std::vector<std::uint8_t> b;
    vision::read_file_bytes(p, b);
    return b;
}
// A reference image written as "height width\n" then HWC RGB bytes.
Image<std::uint8_t> read_reference(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::size_t h = 0, w = 0;
    in >> h >> w;
    in.get();
    Image<std::uint8_t> img;
    img.reshape(h, w, 3);
    in.read(reinterpret_cast<char*>(img.data.data()), static_cast<std::streamsize>(img.size()));
    REQUIRE(in.gcount() == static_cast<std::streamsize>(img.size()));
    return img;
}

std::size_t differing_pixels(const Image<std::uint8_t>& a, const Image<std::uint8_t>& b) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) n += a.data[i] != b.data[i];
    return n;
}

std::vector<fs::path> photos() {
    const fs::path root = testing::require_shared("data/dog_croissants");
    std::vector<fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(root))
        if (e.path().extension() == ".jpg") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("Decode gives every dog / croissant photo pixel for pixel as Pillow decodes it", "[vision][decode]") {
    const auto files = photos();
    REQUIRE(files.size() == 108);
    testing::TempDir dir("vision_decode");
    std::string args = "decode " + dir.path.string();
    for (const auto& f : files) args += " " + f.string();
    reference(args);
    Image<std::uint8_t> img;
    for (std::size_t i = 0; i < files.size(); ++i) {
        INFO(files[i].string());
        vision::decode_image(file_bytes(files[i]), img, files[i].native());
        const auto expected = read_reference(dir.path / (std::to_string(i) + ".rgb"));
        REQUIRE(img.height == expected.height);
        REQUIRE(img.width == expected.width);
        REQUIRE(img.channels == 3);
        REQUIRE(img.layout == Layout::HWC);
        CHECK(differing_pixels(img, expected) == 0);
    }
}

TEST_CASE("Grey JPEGs decode to three equal channels and CMYK JPEGs to MindSpore's RGB", "[vision][decode]") {
    testing::TempDir dir("vision_jpegs");
    reference("jpegs " + dir.path.string());
    for (const char* name : {"grey", "cmyk"}) {
        INFO(name);
        const auto img = vision::read_image(dir.path / (std::string(name) + ".jpg"));
        const auto expected = read_reference(dir.path / (std::string(name) + ".rgb"));
        REQUIRE(img.height == expected.height);
        REQUIRE(img.width == expected.width);
        CHECK(differing_pixels(img, expected) == 0);
    }
}

TEST_CASE("PNGs of every colour type and bit depth decode as OpenCV's IMREAD_COLOR gives them", "[vision][decode]") {
    testing::TempDir dir("vision_pngs");
    reference("pngs " + dir.path.string());
    std::size_t checked = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) {
        if (e.path().extension() != ".png") continue;
        INFO(e.path().filename().string());
        const auto img = vision::read_image(e.path());
        auto ref = e.path();
        const auto expected = read_reference(ref.replace_extension(".rgb"));
        REQUIRE(img.height == expected.height);
        REQUIRE(img.width == expected.width);
        CHECK(differing_pixels(img, expected) == 0);
        ++checked;
    }
    CHECK(checked == 11);
}

TEST_CASE("A JPEG cut at every KiB, or a PNG cut anywhere, is a FormatError naming the file", "[vision][hostile]") {
    const auto files = photos();
    const fs::path photo = files[5];
    const auto whole = file_bytes(photo);
    Image<std::uint8_t> img;
    for (std::size_t cut = 0; cut < whole.size(); cut += 1024) {
        INFO("cut at " << cut << " of " << whole.size());
        const std::span<const std::uint8_t> part(whole.data(), cut);
        try {
            vision::decode_image(part, img, "cut.jpg");
            FAIL("a cut JPEG decoded");
        } catch (const FormatError& e) {
            CHECK(std::string(e.what()).find("cut.jpg") != std::string::npos);
        }
    }
    testing::TempDir dir("vision_cut_png");
    reference("pngs " + dir.path.string());
    const auto png = file_bytes(dir.path / "rgba8.png");
    for (std::size_t cut = 0; cut < png.size(); cut += 97) {
        INFO("cut at " << cut << " of " << png.size());
        CHECK_THROWS_AS(vision::decode_image(std::span(png.data(), cut), img, "cut.png"), FormatError);
    }
}

TEST_CASE("Flipped bits never crash the decoders: the image decodes whole or a FormatError says why", "[vision][hostile]") {
    const auto files = photos();
    std::mt19937_64 rng(2026);
    testing::TempDir dir("vision_flip_png");
    reference("pngs " + dir.path.string());
    const std::vector<std::uint8_t> sources[] = {file_bytes(files[0]), file_bytes(files[40]), file_bytes(dir.path / "palette.png")};
    Image<std::uint8_t> img;
    std::size_t refused = 0, decoded = 0;
    for (const auto& original : sources)
        for (int trial = 0; trial < 150; ++trial) {
            auto bytes = original;
            for (int flips = 0; flips < 4; ++flips) bytes[rng() % bytes.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
            try {
                vision::decode_image(bytes, img, "flipped");
                CHECK(img.size() == img.height * img.width * 3);
                ++decoded;
            } catch (const FormatError&) {
                ++refused;
            }
        }
    CHECK(refused > 0);
    CHECK(refused + decoded == 450);
}

TEST_CASE("Absurd dimensions in a header are refused before anything is allocated for them", "[vision][hostile]") {
    auto jpeg = file_bytes(photos()[0]);
    // The SOF marker's height and width: FFC0 / FFC2, length, precision, then height and width big-endian.
    bool patched = false;
    for (std::size_t i = 2; i + 9 < jpeg.size(); ++i)
        if (jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2)) {
            jpeg[i + 5] = 0xEA, jpeg[i + 6] = 0x60, jpeg[i + 7] = 0xEA, jpeg[i + 8] = 0x60;  // 60000
            patched = true;
            break;
        }
    REQUIRE(patched);
    Image<std::uint8_t> img;
    testing::reset_largest_allocation();
    try {
        vision::decode_image(jpeg, img, "huge.jpg");
        FAIL("a 60000 x 60000 JPEG was decoded");
    } catch (const FormatError& e) {
        CHECK(std::string(e.what()).find("60000x60000") != std::string::npos);
        CHECK(std::string(e.what()).find("max_pixels") != std::string::npos);
    }
    CHECK(testing::largest_allocation_since_reset() < (std::size_t{1} << 20));
    // A small limit refuses an ordinary photo the same way.
    CHECK_THROWS_AS(vision::decode_image(file_bytes(photos()[0]), img, "x.jpg", vision::DecodeLimits{100}), FormatError);
}

TEST_CASE("Decoding a 1920x1080 JPEG allocates the image and nothing more from the C++ heap", "[vision][decode]") {
    fs::path big;
    for (const auto& f : photos()) {
        const auto img = vision::read_image(f);
        if (img.width == 1920 && img.height == 1080) big = f;
    }
    REQUIRE(!big.empty());
    const auto bytes = file_bytes(big);
    Image<std::uint8_t> img;
    const std::size_t before = testing::allocation_count();
    testing::reset_largest_allocation();
    vision::decode_image(bytes, img, big.native());
    CHECK(testing::allocation_count() - before == 1);  // the pixels; libjpeg's own working memory is malloc'd
    CHECK(testing::largest_allocation_since_reset() == 1920u * 1080 * 3);
    const std::size_t again = testing::allocation_count();
    vision::decode_image(bytes, img, big.native());
    CHECK(testing::allocation_count() == again);  // a second image of the size reuses the buffer
}

TEST_CASE("Files that are not JPEG or PNG are refused with what they seem to be", "[vision][hostile]") {
    Image<std::uint8_t> img;
    const std::vector<std::uint8_t> bmp{'B', 'M', 0, 0, 0, 0}, empty{};
    try {
        vision::decode_image(bmp, img, "a.bmp");
        FAIL();
    } catch (const FormatError& e) {
        CHECK(std::string(e.what()).find("a BMP image") != std::string::npos);
    }
    CHECK_THROWS_AS(vision::decode_image(empty, img, "e.jpg"), FormatError);
    CHECK_THROWS_AS(vision::read_image("/nonexistent/x.jpg"), FileError);
}

TEST_CASE("ImageFolderDataset finds one class per folder, labels them by sorted name and reads every photo", "[vision][folder]") {
    const fs::path root = testing::require_shared("data/dog_croissants");
    ImageFolderDataset ds(root);
    REQUIRE(ds.size() == 108);
    REQUIRE(ds.num_classes() == 2);
    CHECK(ds.get_class_indexing().at("croissants") == 0);
    CHECK(ds.get_class_indexing().at("dog") == 1);
    // labels.csv, the folder's own record, against what the dataset says.
    std::ifstream csv(root / "labels.csv");
    std::string line;
    std::getline(csv, line);
    std::map<std::string, std::string> expected;
    while (std::getline(csv, line)) expected[line.substr(0, line.find(','))] = line.substr(line.find(',') + 1, line.find(',', line.find(',') + 1) - line.find(',') - 1);
    REQUIRE(expected.size() == 108);
    for (std::size_t i = 0; i < ds.size(); ++i) {
        const std::string rel = fs::relative(ds.file(i), root).string();
        CHECK(ds.label(i) == (expected.at(rel) == "dog" ? 1 : 0));
        if (i > 0) CHECK(std::pair(ds.label(i - 1), ds.file(i - 1)) < std::pair(ds.label(i), ds.file(i)));
    }

    // decode = false: each image is its file's bytes; Decode then resize makes batches.
    auto batches = ds.map(vision::Decode{}, vision::Resize(32, 32), vision::Rescale{1.0 / 255}, vision::HWC2CHW{}).batch(16);
    CHECK(batches.get_dataset_size() == 7);
    Batch b;
    std::size_t seen = 0;
    while (batches.next(b)) {
        CHECK(b.images.shape()[1] == 3);
        CHECK(b.images.shape()[2] == 32);
        seen += b.images.shape()[0];
    }
    CHECK(seen == 108);

    // decode = true gives the same pixels as Decode in map().
    ImageFolderOptions o;
    o.decode = true;
    auto decoded = ImageFolderDataset(root, o).map(vision::Resize(32, 32), vision::Rescale{1.0 / 255}, vision::HWC2CHW{}).batch(16);
    Batch c;
    batches.reset(0);
    while (batches.next(b)) {
        REQUIRE(decoded.next(c));
        CHECK(std::equal(b.images.begin(), b.images.end(), c.images.begin()));
        CHECK(std::equal(b.labels.begin(), b.labels.end(), c.labels.begin()));
    }
}

TEST_CASE("ImageFolderDataset's undecoded images are refused by pixel transforms and by batch()", "[vision][folder]") {
    const fs::path root = testing::require_shared("data/dog_croissants");
    Batch b;
    auto raw = ImageFolderDataset(root).batch(1);
    try {
        raw.next(b);
        FAIL("a batch of encoded images was made");
    } catch (const ShapeError& e) {
        CHECK(std::string(e.what()).find("vision::Decode") != std::string::npos);
    }
    auto resized = ImageFolderDataset(root).map(vision::Resize(8, 8)).batch(1);
    CHECK_THROWS_AS(resized.next(b), ConfigError);
    ImageFolderOptions o;
    o.decode = true;
    auto twice = ImageFolderDataset(root, o).map(vision::Decode{}).batch(1);
    CHECK_THROWS_AS(twice.next(b), ConfigError);
}

TEST_CASE("ImageFolderDataset options: extensions, class_indexing, num_samples, shuffle and shards", "[vision][folder]") {
    const fs::path root = testing::require_shared("data/dog_croissants");
    testing::TempDir dir("vision_folder");
    // A small folder: two classes, a PNG, an upper-case extension, a text file and a hidden sub-folder.
    fs::create_directories(dir.path / "b_cats" / "more");
    fs::create_directories(dir.path / "a_dogs");
    fs::copy_file(root / "dog" / "00001.jpg", dir.path / "a_dogs" / "x.JPG");
    fs::copy_file(root / "dog" / "00003.jpg", dir.path / "a_dogs" / "y.jpeg");
    fs::copy_file(root / "dog" / "00003.jpg", dir.path / "b_cats" / "more" / "z.jpg");
    reference("pngs " + dir.path.string());
    fs::copy_file(dir.path / "rgb8.png", dir.path / "b_cats" / "w.png");
    std::ofstream(dir.path / "a_dogs" / "notes.txt") << "not an image";

    ImageFolderDataset all(dir.path);
    REQUIRE(all.size() == 4);  // x.JPG, y.jpeg, more/z.jpg, w.png; not notes.txt
    CHECK(all.label(0) == 0);
    CHECK(all.label(3) == 1);

    ImageFolderOptions only_png;
    only_png.extensions = {".PNG"};
    CHECK(ImageFolderDataset(dir.path, only_png).size() == 1);

    ImageFolderOptions swapped;
    swapped.class_indexing = {{"a_dogs", 7}, {"b_cats", 3}};
    ImageFolderDataset s(dir.path, swapped);
    CHECK(s.label(0) == 3);  // b_cats first: classes go in label order
    CHECK(s.label(3) == 7);
    swapped.class_indexing = {{"c_birds", 0}};
    CHECK_THROWS_AS(ImageFolderDataset(dir.path, swapped), ConfigError);

    ImageFolderOptions some;
    some.num_samples = 2;
    CHECK(ImageFolderDataset(dir.path, some).get_dataset_size() == 2);

    // Shards (the partition itself is tested on arrays in test_data): ceil(108 / 5) samples each.
    for (std::size_t id = 0; id < 5; ++id) {
        ImageFolderOptions o;
        o.num_shards = 5, o.shard_id = id, o.shuffle = true, o.seed = 9;
        CHECK(ImageFolderDataset(root, o).get_dataset_size() == 22);
    }
    ImageFolderOptions bad;
    bad.num_shards = 2, bad.shard_id = 2;
    CHECK_THROWS_AS(ImageFolderDataset(root, bad), ConfigError);
    CHECK_THROWS_AS(ImageFolderDataset(dir.path / "a_dogs" / "x.JPG"), FileError);
    CHECK_THROWS_AS(ImageFolderDataset(dir.path / "a_dogs"), FileError);  // no class sub-folders
}
