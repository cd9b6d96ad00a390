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

    // MindSpore's default: every file of a class folder, one level deep, in byte-wise order.
    ImageFolderDataset all(dir.path);
    REQUIRE(all.size() == 4);
    CHECK(fs::path(all.file(0)).filename() == "notes.txt");
    CHECK(fs::path(all.file(1)).filename() == "x.JPG");
    CHECK(fs::path(all.file(2)).filename() == "y.jpeg");
    CHECK(fs::path(all.file(3)).filename() == "w.png");
    CHECK(all.label(2) == 0);
    CHECK(all.label(3) == 1);
    // A file that is not an image fails when read, naming itself.
    Batch b;
    auto with_notes = all.map(vision::Decode{}, vision::Resize(4, 4)).batch(1);
    try {
        with_notes.next(b);
        FAIL("notes.txt decoded");
    } catch (const FormatError& e) {
        CHECK(std::string(e.what()).find("notes.txt") != std::string::npos);
    }

    // Extensions match exactly, case included.
    ImageFolderOptions jpegs;
    jpegs.extensions = {".JPG", ".jpeg"};
    CHECK(ImageFolderDataset(dir.path, jpegs).size() == 2);
    jpegs.extensions = {".jpg"};
    CHECK_THROWS_AS(ImageFolderDataset(dir.path, jpegs), FileError);  // no ".jpg" one level down

    ImageFolderOptions swapped;
    swapped.extensions = {".JPG", ".jpeg", ".png"};
    swapped.class_indexing = {{"a_dogs", 7}, {"b_cats", 3}};
    ImageFolderDataset s(dir.path, swapped);
    REQUIRE(s.size() == 3);
    CHECK(s.label(0) == 7);  // rows stay in folder-name order; labels are the user's
    CHECK(s.label(2) == 3);
    swapped.class_indexing = {{"c_birds", 0}};
    CHECK_THROWS_AS(ImageFolderDataset(dir.path, swapped), ConfigError);

    ImageFolderOptions some;
    some.num_samples = 2;
    CHECK(ImageFolderDataset(dir.path, some).get_dataset_size() == 2);
    // Shuffled with num_samples: drawn with replacement (MindSpore's RandomSampler(replacement=True)).
    ImageFolderOptions drawn;
    drawn.shuffle = true, drawn.num_samples = 300, drawn.seed = 3;
    auto photos_drawn = ImageFolderDataset(root, drawn);
    CHECK(photos_drawn.get_dataset_size() == 108);  // capped at the number of files

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

// ---------------------------------------------------------------- transforms against OpenCV

namespace {

struct FloatRef {
    std::size_t d0 = 0, d1 = 0, d2 = 0;
    std::vector<float> values;
};
FloatRef read_f32(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    FloatRef r;
    in >> r.d0 >> r.d1 >> r.d2;
    in.get();
    r.values.resize(r.d0 * r.d1 * r.d2);
    in.read(reinterpret_cast<char*>(r.values.data()), static_cast<std::streamsize>(r.values.size() * sizeof(float)));
    REQUIRE(in.gcount() == static_cast<std::streamsize>(r.values.size() * sizeof(float)));
    return r;
}

// The largest difference between two uint8 images, and how many values differ at all.
std::pair<int, std::size_t> uint8_difference(const Image<std::uint8_t>& a, const Image<std::uint8_t>& b) {
    int worst = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const int d = std::abs(int{a.data[i]} - int{b.data[i]});
        worst = std::max(worst, d);
        n += d != 0;
    }
    return {worst, n};
}

double relative_float_difference(std::span<const float> a, std::span<const float> b) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, std::abs(double{a[i]} - double{b[i]}) / std::max(1.0, std::abs(double{b[i]})));
    return worst;
}

// Runs one transform on a decoded photo.
template <class T, class In>
Image<typename T::template output_t<In>> apply(T t, const Image<In>& in) {
    Image<typename T::template output_t<In>> out;
    t(in, out);
    return out;
}

}  // namespace

TEST_CASE("Resize with each interpolation, CenterCrop and the seed pipeline match OpenCV on every photo", "[vision][transforms]") {
    const auto files = photos();
    testing::TempDir dir("vision_transforms");
    std::string args = "transforms " + dir.path.string();
    for (const auto& f : files) args += " " + f.string();
    reference(args);
    const std::pair<const char*, vision::Inter> inters[] = {{"linear", vision::Inter::LINEAR},
                                                             {"nearest", vision::Inter::NEAREST},
                                                             {"cubic", vision::Inter::CUBIC},
                                                             {"area", vision::Inter::AREA}};
    std::map<std::string, std::size_t> off_by_one, compared;
    auto seed = [] {
        return std::tuple{vision::Resize(256), vision::CenterCrop(224),
                          // products in double, as Python computes the seed's mean and std, then float32
                          vision::Normalize({float(0.485 * 255), float(0.456 * 255), float(0.406 * 255)},
                                            {float(0.229 * 255), float(0.224 * 255), float(0.225 * 255)}),
                          vision::HWC2CHW{}};
    };
    for (std::size_t i = 0; i < files.size(); ++i) {
        INFO(files[i].string());
        const auto img = vision::read_image(files[i]);
        const std::string base = (dir.path / std::to_string(i)).string();
        for (const auto& [label, inter] : inters) {
            INFO(label);
            if (!fs::exists(base + "_short_" + label + ".rgb")) continue;
            for (const char* kind : {"short", "square"}) {
                INFO(kind);
                const auto expected = read_reference(base + "_" + kind + "_" + label + ".rgb");
                const auto got = std::string(kind) == "short" ? apply(vision::Resize(256, inter), img)
                                                              : apply(vision::Resize(224, 224, inter), img);
                REQUIRE(got.height == expected.height);
                REQUIRE(got.width == expected.width);
                const auto [worst, n] = uint8_difference(got, expected);
                CHECK(worst <= 1);
                off_by_one[label] += n;
                compared[label] += got.size();
            }
            if (fs::exists(base + "_float_" + label + ".f32")) {
                Image<float> f;
                f.reshape(img.height, img.width, 3);
                for (std::size_t k = 0; k < img.size(); ++k) f.data[k] = static_cast<float>(img.data[k]) / 255.f;
                const auto expected = read_f32(base + "_float_" + label + ".f32");
                const auto got = apply(vision::Resize(224, 224, inter), f);
                REQUIRE(got.size() == expected.values.size());
                CHECK(relative_float_difference(got.data, expected.values) <= 1e-5);
            }
        }
        const auto crop = apply(vision::CenterCrop(224), apply(vision::Resize(256), img));
        CHECK(uint8_difference(crop, read_reference(base + "_crop.rgb")).first == 0);
        // The seed pipeline, as one map() in a dataset would run it.
        auto [resize, center, normalize, chw] = seed();
        const auto out = apply(chw, apply(normalize, apply(center, apply(resize, img))));
        const auto expected = read_f32(base + "_seed.f32");
        REQUIRE(out.layout == Layout::CHW);
        REQUIRE(expected.d0 == 3);
        CHECK(relative_float_difference(out.data, expected.values) <= 1e-5);
    }
    // Linear is OpenCV's fixed-point arithmetic bit for bit; the others within one level (float rounding).
    CHECK(off_by_one["linear"] == 0);
    CHECK(off_by_one["nearest"] == 0);
    for (const auto& [label, n] : off_by_one) WARN(label << ": " << n << " of " << compared[label] << " values differ by 1 from OpenCV");
}

TEST_CASE("Resize(size) sets the shorter side with MindSpore's float32 rounding", "[vision][transforms]") {
    const vision::Resize r(224);
    CHECK(r.output_size(112, 117) == std::pair<std::size_t, std::size_t>{224, 233});  // exact arithmetic: 234
    CHECK(r.output_size(117, 112) == std::pair<std::size_t, std::size_t>{233, 224});
    CHECK(r.output_size(300, 300) == std::pair<std::size_t, std::size_t>{224, 224});
    CHECK(vision::Resize(256).output_size(1080, 1920) == std::pair<std::size_t, std::size_t>{256, 455});
    CHECK_THROWS_AS(vision::Resize(0), ConfigError);
    CHECK_THROWS_AS(vision::Resize(4, 4, static_cast<vision::Inter>(4)), ConfigError);
}

TEST_CASE("CenterCrop pads a short side with zeros, the odd pixel on top and left, as MindSpore does", "[vision][transforms]") {
    Image<std::uint8_t> in;
    in.reshape(2, 3, 1);
    for (std::size_t k = 0; k < 6; ++k) in.data[k] = static_cast<std::uint8_t>(k + 1);  // 1 2 3 / 4 5 6
    const auto out = apply(vision::CenterCrop(5, 2), in);  // pad 3 rows (2 on top, 1 below); crop columns from 0
    const std::vector<std::uint8_t> expected{0, 0, 0, 0, 1, 2, 4, 5, 0, 0};
    CHECK(out.data == expected);
    const auto wide = apply(vision::CenterCrop(1, 6), in);  // columns padded 2 left, 1 right; row (2-1)/2 = 0
    CHECK(wide.data == std::vector<std::uint8_t>{0, 0, 1, 2, 3, 0});
    CHECK_THROWS_AS(apply(vision::CenterCrop(8, 3), in), ShapeError);  // 6 rows of padding for 2 rows
}

TEST_CASE("Normalize divides by std as MindSpore does, per channel or one value for all", "[vision][transforms]") {
    Image<std::uint8_t> in;
    in.reshape(1, 2, 3);
    in.data = {0, 100, 200, 255, 50, 7};
    const auto out = apply(vision::Normalize({10.f, 20.f, 30.f}, {3.f, 7.f, 0.1f}), in);
    CHECK(out.data[0] == (0.f - 10.f) / 3.f);
    CHECK(out.data[2] == (200.f - 30.f) / 0.1f);
    CHECK(out.data[5] == (7.f - 30.f) / 0.1f);
    const auto one = apply(vision::Normalize({1.f}, {2.f}), in);
    CHECK(one.data[3] == 127.f);
    CHECK_THROWS_AS(vision::Normalize({1.f, 2.f}, {1.f}), ConfigError);
    CHECK_THROWS_AS(vision::Normalize({1.f}, {0.f}), ConfigError);
    CHECK_THROWS_AS(apply(vision::Normalize({1.f, 2.f}, {1.f, 1.f}), in), ShapeError);
    CHECK_THROWS_AS(apply(vision::Normalize({1.f}, {1.f}, false), in), ConfigError);
}

TEST_CASE("RandomHorizontalFlip mirrors about prob of the samples, the same ones when an epoch is replayed", "[vision][transforms]") {
    SampleArrays s;
    s.count = 400, s.height = 1, s.width = 2, s.channels = 1;
    for (std::size_t i = 0; i < s.count; ++i) s.images.push_back(1), s.images.push_back(2), s.labels.push_back(0);
    auto d = Pipeline<>(s).map(vision::RandomHorizontalFlip(0.3, 5)).batch(400);
    const auto flips = [&](std::size_t epoch) {
        d.reset(epoch);
        Batch b;
        REQUIRE(d.next(b));
        std::vector<bool> f;
        for (std::size_t i = 0; i < 400; ++i) f.push_back(b.images(i, 0, 0, 0) == 2.f);
        return f;
    };
    const auto e0 = flips(0);
    const auto count = static_cast<std::size_t>(std::count(e0.begin(), e0.end(), true));
    CHECK(count > 90);  // 120 expected; binomial sd 9.2
    CHECK(count < 150);
    CHECK(flips(0) == e0);
    CHECK(flips(1) != e0);
    CHECK_THROWS_AS(vision::RandomHorizontalFlip(1.5), ConfigError);
}

TEST_CASE("RandomCropDecodeResize draws MindSpore's crop boxes and resizes the decoded window", "[vision][transforms]") {
    Generator g(1);
    std::size_t fits = 0;
    for (int i = 0; i < 2000; ++i) {
        const auto b = vision::random_crop_box(300, 400, {0.08f, 1.f}, {0.75f, 4.f / 3.f}, 10, g);
        REQUIRE(b.width >= 1);
        REQUIRE(b.x + b.width <= 400);
        REQUIRE(b.y + b.height <= 300);
        const double area = double(b.width * b.height) / (300.0 * 400.0), aspect = double(b.width) / double(b.height);
        fits += area >= 0.07 && area <= 1.01 && aspect >= 0.74 && aspect <= 1.35;
    }
    CHECK(fits == 2000);
    // A whole-image crop of a 10:1 image never fits 3:4 .. 4:3, so the fallback cuts it to the widest allowed
    // ratio, centred: width round(100 * 4/3) = 133, x round(867 / 2) = 434 (half away from zero, as std::round).
    Generator h(2);
    const auto wide = vision::random_crop_box(100, 1000, {1.f, 1.f}, {0.75f, 4.f / 3.f}, 10, h);
    CHECK(wide == vision::CropBox{434, 0, 133, 100});

    // In a pipeline: encoded photos in, 64 x 64 crops out, the same ones when the epoch is replayed.
    const fs::path root = testing::require_shared("data/dog_croissants");
    auto d = ImageFolderDataset(root).take(6).map(vision::RandomCropDecodeResize(64, 64, {0.08f, 1.f}, {0.75f, 4.f / 3.f}, vision::Inter::LINEAR, 10, 3), vision::Rescale{1.0 / 255}, vision::HWC2CHW{}).batch(6);
    Batch a, b;
    d.reset(0);
    REQUIRE(d.next(a));
    CHECK(a.images.shape()[2] == 64);
    d.reset(0);
    REQUIRE(d.next(b));
    CHECK(std::equal(a.images.begin(), a.images.end(), b.images.begin()));
    d.reset(1);
    REQUIRE(d.next(b));
    CHECK(!std::equal(a.images.begin(), a.images.end(), b.images.begin()));
    // It takes file bytes only.
    ImageFolderOptions decoded;
    decoded.decode = true;
    auto wrong = ImageFolderDataset(root, decoded).map(vision::RandomCropDecodeResize(8)).batch(1);
    CHECK_THROWS_AS(wrong.next(a), ConfigError);
}
