// MindSpore's ResNet50 transfer-learning flow in C++ on real photos (dogs and croissants): ImageFolderDataset,
// the vision transforms, a pretrained ResNet50<1000> without its head loaded into ResNet50<2>, fine-tuning with
// ModelCheckpoint, evaluation, MindIR export with the preprocessing inside (and ONNX), a prediction straight
// from a raw JPEG through that preprocessing, and an SVG of validation photos with their predicted labels.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/data/vision.hpp"
#include "mindsave/mindsave.hpp"

namespace ms = mindsave;
namespace fs = std::filesystem;
namespace vision = mindsave::data::vision;

namespace {

struct Options {
    fs::path data = "../shared/data/dog_croissants";
    fs::path pretrained;
    fs::path out = "resnet50_transfer";
    std::size_t epochs = 1, steps = 0, batch = 8, images = 12;
    float learning_rate = 0.001f;  // the seed tutorial's fine-tuning rate
    std::uint64_t seed = 1;
};

[[noreturn]] void usage(int code) {
    std::cout << "usage: resnet50_transfer [--data DIR] [--pretrained FILE] [--epochs N] [--steps N] [--batch N]\n"
                 "                         [--lr X] [--images N] [--out DIR] [--seed N]\n"
                 "  --data DIR         an ImageFolder of photos, one sub-folder per class\n"
                 "                     (default ../shared/data/dog_croissants)\n"
                 "  --pretrained FILE  ResNet50 weights for 1000 classes: a MindSpore resnet50_224.ckpt, or a torchvision\n"
                 "                     resnet50 .pth (renamed through the built-in torchvision -> mindvision map);\n"
                 "                     without it the network starts from random weights\n"
                 "  --epochs N         fine-tuning epochs (default 1)\n"
                 "  --steps N          at most N steps per epoch (default: the whole training split)\n"
                 "  --batch N          batch size (default 8)\n"
                 "  --lr X             Momentum's learning rate (default 0.001)\n"
                 "  --images N         validation photos drawn into the SVG (default 12)\n"
                 "  --out DIR          checkpoints, exported models and the SVG go here (default resnet50_transfer)\n"
                 "  --seed N           split, shuffle, augmentation and initialisation seed (default 1)\n";
    std::exit(code);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") usage(0);
        if (i + 1 >= argc) {
            std::cerr << "resnet50_transfer: " << arg << " needs a value\n";
            usage(2);
        }
        const char* value = argv[++i];
        try {
            if (arg == "--data") o.data = value;
            else if (arg == "--pretrained") o.pretrained = value;
            else if (arg == "--epochs") o.epochs = std::stoul(value);
            else if (arg == "--steps") o.steps = std::stoul(value);
            else if (arg == "--batch") o.batch = std::stoul(value);
            else if (arg == "--lr") o.learning_rate = std::stof(value);
            else if (arg == "--images") o.images = std::stoul(value);
            else if (arg == "--out") o.out = value;
            else if (arg == "--seed") o.seed = std::stoull(value);
            else {
                std::cerr << "resnet50_transfer: unknown option " << arg << "\n";
                usage(2);
            }
        } catch (const std::logic_error&) {
            std::cerr << "resnet50_transfer: " << arg << " needs a number, got '" << value << "'\n";
            usage(2);
        }
    }
    if (o.batch == 0) usage(2);
    return o;
}

// The ImageNet statistics the seed flow normalises with (0..255 scale), as Python computes them.
vision::Normalize imagenet_normalize() {
    const auto f = [](double v) { return static_cast<float>(v); };
    return vision::Normalize({f(0.485 * 255), f(0.456 * 255), f(0.406 * 255)}, {f(0.229 * 255), f(0.224 * 255), f(0.225 * 255)});
}

// The weights of a ResNet50<1000> file under mindvision's names, without the 1000-class head.
ms::ParameterDict pretrained_backbone(const fs::path& file) {
    const ms::ParameterDict dict = ms::load_checkpoint(file);
    const bool torchvision = dict.find("fc.weight") != nullptr;
    std::vector<ms::TensorRecord> kept;
    for (const auto& r : dict) {
        const auto name = torchvision ? ms::detail::apply_rules(ms::torchvision::resnet50_to_mindvision, r.name)
                                      : std::optional<std::string>(r.name);
        if (!name || name->starts_with("head.")) continue;  // the head: 1000 classes, not ours
        ms::TensorRecord copy = r;
        copy.name = *name;
        kept.push_back(std::move(copy));
    }
    std::cout << "pretrained: " << file.string() << " (" << (torchvision ? "torchvision names, mapped to mindvision's" : "MindSpore names")
              << "), " << kept.size() << " of " << dict.size() << " tensors kept (the head dropped)\n";
    return ms::ParameterDict(std::move(kept));
}

std::string base64(const std::vector<std::uint8_t>& b) {
    static constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < b.size(); i += 3) {
        const std::uint32_t v = std::uint32_t{b[i]} << 16 | (i + 1 < b.size() ? std::uint32_t{b[i + 1]} << 8 : 0) |
                                (i + 2 < b.size() ? b[i + 2] : 0);
        out += digits[v >> 18 & 63];
        out += digits[v >> 12 & 63];
        out += i + 1 < b.size() ? digits[v >> 6 & 63] : '=';
        out += i + 2 < b.size() ? digits[v & 63] : '=';
    }
    return out;
}

std::string escape(std::string_view s) {
    std::string out;
    for (char c : s) out += c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : std::string(1, c);
    return out;
}

struct Drawn {
    fs::path file;
    std::int32_t label, predicted;
};

// Each photo as a 128-pixel thumbnail (Resize(128), CenterCrop(128), JPEG) with "predicted (true)" under it.
void write_svg(const fs::path& path, const std::vector<Drawn>& photos, const std::vector<std::string>& names) {
    constexpr std::size_t columns = 4, side = 128, cell_w = 180, cell_h = 160;
    std::ofstream svg(path);
    if (!svg) throw ms::FileError(path, "cannot open for writing");
    const std::size_t rows = (photos.size() + columns - 1) / columns;
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << columns * cell_w << "\" height=\"" << rows * cell_h
        << "\" font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    vision::Resize shrink(side);
    vision::CenterCrop crop(side);
    ms::data::Image<std::uint8_t> small, square;
    for (std::size_t i = 0; i < photos.size(); ++i) {
        shrink(vision::read_image(photos[i].file), small);
        crop(small, square);
        const std::size_t x = (i % columns) * cell_w, y = (i / columns) * cell_h;
        svg << "<image x=\"" << x + (cell_w - side) / 2 << "\" y=\"" << y + 6 << "\" width=\"" << side << "\" height=\"" << side
            << "\" href=\"data:image/jpeg;base64," << base64(vision::encode_jpeg(square, 85)) << "\"/>\n";
        const bool right = photos[i].predicted == photos[i].label;
        svg << "<text x=\"" << x + cell_w / 2 << "\" y=\"" << y + side + 24 << "\" text-anchor=\"middle\" fill=\""
            << (right ? "blue" : "red") << "\">" << escape(names[static_cast<std::size_t>(photos[i].predicted)]) << " ("
            << escape(names[static_cast<std::size_t>(photos[i].label)]) << ")</text>\n";
    }
    svg << "</svg>\n";
}

}  // namespace

int main(int argc, char** argv) {
    const Options opt = parse(argc, argv);
    try {
        // The photos, one class per folder, split 80 / 20 once by the seed (the same split on every run).
        const ms::data::ImageFolderDataset photos(opt.data);
        std::vector<std::string> names(photos.num_classes());
        std::cout << "data: " << opt.data.string() << ", " << photos.size() << " photos, classes";
        for (const auto& [name, label] : photos.get_class_indexing()) {
            names[static_cast<std::size_t>(label)] = name;
            std::cout << " " << name << "=" << label;
        }
        std::cout << "\n";
        const auto [train_part, val_part] = photos.split({0.8, 0.2}, true, opt.seed);

        // The seed flow's pipelines: random crops and flips to train; Resize(256), CenterCrop(224) to evaluate.
        auto train = train_part.shuffle(train_part.get_dataset_size(), opt.seed)
                         .map(vision::RandomCropDecodeResize(224, 224, {0.08f, 1.f}, {0.75f, 4.f / 3.f}, vision::Inter::LINEAR, 10, opt.seed),
                              vision::RandomHorizontalFlip(0.5, opt.seed), imagenet_normalize(), vision::HWC2CHW{})
                         .batch(opt.batch, true);
        if (opt.steps) train = train.take(opt.steps);
        auto val = val_part.map(vision::Decode{}, vision::Resize(256), vision::CenterCrop(224), imagenet_normalize(),
                                vision::HWC2CHW{})
                       .batch(opt.batch, false);
        std::cout << "split: " << train_part.get_dataset_size() << " to train (" << train.get_dataset_size()
                  << " steps of " << opt.batch << " per epoch), " << val_part.get_dataset_size() << " to validate\n";

        // ResNet50<2>: the backbone from a pretrained ResNet50<1000>, or fresh weights, said plainly.
        ms::ResNet50<2> net(opt.seed);
        if (!opt.pretrained.empty()) {
            const auto report = ms::load_param_into_net(net, pretrained_backbone(opt.pretrained));
            std::cout << "load_param_into_net: " << report.param_not_load.size() << " parameters not loaded";
            for (const auto& n : report.param_not_load) std::cout << " " << n;
            std::cout << "; " << report.ckpt_not_load.size() << " file entries unused\n";
        } else {
            std::cout << "no --pretrained file: ResNet50<2> starts from freshly initialised weights, so a short run "
                         "predicts little better than chance\n";
        }

        ms::SoftmaxCrossEntropyWithLogits<> loss;
        ms::Momentum optimizer(net, {.learning_rate = opt.learning_rate, .momentum = 0.9f});
        const ms::Metrics metrics{{"Accuracy", ms::metrics::Accuracy{}}, {"Loss", ms::metrics::Loss{}}};
        ms::Model model(net, loss, optimizer, metrics);
        ms::ModelCheckpoint<> checkpoint("resnet50", opt.out / "checkpoints",
                                         {.save_checkpoint_steps = static_cast<std::int64_t>(std::max<std::size_t>(train.get_dataset_size(), 1)),
                                          .keep_checkpoint_max = 2});
        const auto t0 = std::chrono::steady_clock::now();
        model.train(opt.epochs, train, ms::LossMonitor(5), ms::ProgressBar(), checkpoint);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::cout << "fine-tuned " << opt.epochs << " epoch(s) in " << std::fixed << std::setprecision(1) << seconds
                  << " s; checkpoints in " << (opt.out / "checkpoints").string() << "\n"
                  << std::defaultfloat;
        std::cout << "validation: " << model.eval(val) << "\n";

        // MindIR with the validation preprocessing inside, as ms.export(net, dataset, ...), and ONNX.
        for (const auto& f : ms::export_model<ms::format::mindir>(net, val, opt.out / "resnet50_224"))
            std::cout << "exported " << f.string() << " (" << fs::file_size(f) << " bytes, preprocessing included)\n";
        for (const auto& f : ms::export_model<ms::format::onnx>(net, ms::Shape{1, 3, 224, 224}, opt.out / "resnet50_224"))
            std::cout << "exported " << f.string() << " (" << fs::file_size(f) << " bytes)\n";

        // The exported preprocessing, read back and run on raw JPEG files, then the network on its output.
        auto preprocess = vision::load_preprocess(opt.out / "resnet50_224.mindir");
        std::vector<Drawn> drawn;
        std::vector<fs::path> files;
        const auto val_indices = val_part.indices();  // the photos the split kept out of training
        for (std::size_t k = 0; k < val_indices.size() && files.size() < std::max<std::size_t>(opt.images, 1); ++k)
            files.push_back(photos.file(val_indices[k]));
        ms::Tensor inputs;
        const ms::Tensor& logits = vision::predict_with_preprocess(model, preprocess, files, inputs);
        const std::size_t classes = logits.shape()[1];
        for (std::size_t i = 0; i < files.size(); ++i) {
            const float* z = logits.data() + i * classes;
            const auto best = static_cast<std::int32_t>(std::max_element(z, z + classes) - z);
            drawn.push_back({files[i], photos.label(val_indices[i]), best});
        }
        {
            const float* z = logits.data();
            const float m = *std::max_element(z, z + classes);
            double sum = 0;
            for (std::size_t c = 0; c < classes; ++c) sum += std::exp(z[c] - m);
            std::cout << "predict_with_preprocess(" << files[0].filename().string() << "): "
                      << names[static_cast<std::size_t>(drawn[0].predicted)] << " with probability " << std::setprecision(3)
                      << 1.0 / sum << " (true: " << names[static_cast<std::size_t>(drawn[0].label)] << ")\n"
                      << std::defaultfloat;
        }
        const fs::path svg = opt.out / "resnet50_predictions.svg";
        write_svg(svg, drawn, names);
        std::size_t right = 0;
        for (const auto& d : drawn) right += d.predicted == d.label;
        std::cout << "wrote " << svg.string() << ": " << right << " of " << drawn.size() << " validation photos predicted right\n";
    } catch (const ms::Error& e) {
        std::cerr << "resnet50_transfer: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
