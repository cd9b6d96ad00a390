// The seed flow's preprocessing per image (Decode, Resize(256), CenterCrop(224), Normalize, HWC2CHW) on the real
// dog / croissant photos, held in memory as file bytes; compare.py sets it beside the same steps in OpenCV
// (peers/vision_cv2_bench.py). One thread, as one pipeline worker.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "mindsave/data/vision.hpp"

namespace fs = std::filesystem;
using namespace mindsave::data;

namespace {

fs::path photo_dir = MINDSAVE_SHARED_DIR "/data/dog_croissants";

// Every photo's file bytes, sorted by path (the peer reads the same list).
const std::vector<std::vector<std::uint8_t>>& photos() {
    static const auto all = [] {
        std::vector<fs::path> paths;
        for (const auto& e : fs::recursive_directory_iterator(photo_dir))
            if (e.path().extension() == ".jpg") paths.push_back(e.path());
        std::sort(paths.begin(), paths.end());
        std::vector<std::vector<std::uint8_t>> bytes(paths.size());
        for (std::size_t i = 0; i < paths.size(); ++i) vision::read_file_bytes(paths[i], bytes[i]);
        return bytes;
    }();
    return all;
}

vision::Normalize imagenet_normalize() {
    const auto f = [](double v) { return static_cast<float>(v); };
    return vision::Normalize({f(0.485 * 255), f(0.456 * 255), f(0.406 * 255)}, {f(0.229 * 255), f(0.224 * 255), f(0.225 * 255)});
}

void BM_SeedPipeline(benchmark::State& state) {
    const auto& all = photos();
    if (all.empty()) return state.SkipWithError(("no photos in " + photo_dir.string()).c_str());
    vision::Resize resize(256);
    vision::CenterCrop crop(224);
    const auto normalize = imagenet_normalize();
    Image<std::uint8_t> decoded, resized, cropped;
    Image<float> normalized, chw;
    for (auto _ : state)
        for (const auto& bytes : all) {
            vision::decode_image(bytes, decoded);
            resize(decoded, resized);
            crop(resized, cropped);
            normalize(cropped, normalized);
            vision::HWC2CHW{}(normalized, chw);
            benchmark::DoNotOptimize(chw.data.data());
        }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * all.size()));
}
BENCHMARK(BM_SeedPipeline)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_Decode(benchmark::State& state) {
    const auto& all = photos();
    if (all.empty()) return state.SkipWithError(("no photos in " + photo_dir.string()).c_str());
    Image<std::uint8_t> decoded;
    for (auto _ : state)
        for (const auto& bytes : all) {
            vision::decode_image(bytes, decoded);
            benchmark::DoNotOptimize(decoded.data.data());
        }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * all.size()));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Decode into a fresh image each time, as OpenCV's and Pillow's decoders allocate one: what reusing the
// buffer saves (on this VM fresh memory is dear: its pages are reported free and faulted in again).
void BM_DecodeFreshBuffer(benchmark::State& state) {
    const auto& all = photos();
    if (all.empty()) return state.SkipWithError(("no photos in " + photo_dir.string()).c_str());
    for (auto _ : state)
        for (const auto& bytes : all) {
            Image<std::uint8_t> decoded;
            vision::decode_image(bytes, decoded);
            benchmark::DoNotOptimize(decoded.data.data());
        }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * all.size()));
}
BENCHMARK(BM_DecodeFreshBuffer)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The steps after decoding, on decoded photos.
void BM_ResizeCropNormalize(benchmark::State& state) {
    const auto& all = photos();
    if (all.empty()) return state.SkipWithError(("no photos in " + photo_dir.string()).c_str());
    std::vector<Image<std::uint8_t>> decoded(all.size());
    for (std::size_t i = 0; i < all.size(); ++i) vision::decode_image(all[i], decoded[i]);
    vision::Resize resize(256);
    vision::CenterCrop crop(224);
    const auto normalize = imagenet_normalize();
    Image<std::uint8_t> resized, cropped;
    Image<float> normalized, chw;
    for (auto _ : state)
        for (const auto& d : decoded) {
            resize(d, resized);
            crop(resized, cropped);
            normalize(cropped, normalized);
            vision::HWC2CHW{}(normalized, chw);
            benchmark::DoNotOptimize(chw.data.data());
        }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * all.size()));
}
BENCHMARK(BM_ResizeCropNormalize)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

int main(int argc, char** argv) {
    // --photos DIR (before Google Benchmark's own flags) points at another ImageFolder of JPEGs.
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--photos") == 0) {
            photo_dir = argv[i + 1];
            std::copy(argv + i + 2, argv + argc, argv + i);
            argc -= 2;
            break;
        }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
