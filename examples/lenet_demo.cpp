// MindSpore's quick-start, in C++: train LeNet5 on Fashion-MNIST, print LossMonitor lines, evaluate,
// and draw the first test images with predicted and true labels into an SVG (blue right, red wrong).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "mindsave/data/mnist.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/mindsave.hpp"

namespace ms = mindsave;
namespace vision = mindsave::data::vision;

namespace {

struct Options {
    std::filesystem::path data = "/usr/share/datasets/fashion-mnist";
    std::size_t epochs = 2;
    std::size_t images = 24;
    std::filesystem::path svg = "lenet_predictions.svg";
    std::filesystem::path checkpoints = "lenet_checkpoints";
    std::size_t more_epochs = 1;
    std::uint64_t seed = 1;
};

[[noreturn]] void usage(int code) {
    std::cout << "usage: lenet_demo [--data DIR] [--epochs N] [--more-epochs N] [--images N] [--svg FILE]\n"
                 "                  [--checkpoints DIR] [--seed N]\n"
                 "  --data DIR    an MNIST-format folder (train-images-idx3-ubyte[.gz], ...);\n"
                 "                default /usr/share/datasets/fashion-mnist (Debian: dataset-fashion-mnist)\n"
                 "  --epochs N    training epochs (default 2)\n"
                 "  --images N    test images drawn into the SVG (default 24)\n"
                 "  --svg FILE    where the picture goes (default lenet_predictions.svg)\n"
                 "  --checkpoints DIR  where ModelCheckpoint writes (default lenet_checkpoints)\n"
                 "  --more-epochs N    epochs trained after resuming from the last checkpoint (default 1)\n"
                 "  --seed N      initialisation and shuffle seed (default 1)\n";
    std::exit(code);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") usage(0);
        if (i + 1 >= argc) {
            std::cerr << "lenet_demo: " << arg << " needs a value\n";
            usage(2);
        }
        const char* value = argv[++i];
        try {
            if (arg == "--data") o.data = value;
            else if (arg == "--epochs") o.epochs = std::stoul(value);
            else if (arg == "--images") o.images = std::stoul(value);
            else if (arg == "--svg") o.svg = value;
            else if (arg == "--checkpoints") o.checkpoints = value;
            else if (arg == "--more-epochs") o.more_epochs = std::stoul(value);
            else if (arg == "--seed") o.seed = std::stoull(value);
            else {
                std::cerr << "lenet_demo: unknown option " << arg << "\n";
                usage(2);
            }
        } catch (const std::logic_error&) {
            std::cerr << "lenet_demo: " << arg << " needs a number, got '" << value << "'\n";
            usage(2);
        }
    }
    return o;
}

// MindSpore's quick-start map: Resize(32, 32), Rescale(1/255), Rescale to mean 0.1307 / std 0.3081, HWC2CHW.
auto quickstart(const ms::data::MnistDataset& source) {
    return source.map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0},
                      vision::Rescale{1.0 / 0.3081, -1.0 * 0.1307 / 0.3081}, vision::HWC2CHW{});
}

std::string escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '&') out += "&amp;";
        else if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else out += c;
    }
    return out;
}

// Fashion-MNIST's class names when the labels are 0..9 of Fashion-MNIST; digits otherwise.
std::string class_name(std::int32_t label, bool fashion) {
    static constexpr const char* names[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    if (fashion && label >= 0 && label < 10) return names[label];
    return std::to_string(label);
}

void write_svg(const std::filesystem::path& path, const ms::data::MnistDataset& test,
               const std::vector<std::int32_t>& predicted, bool fashion) {
    constexpr std::size_t columns = 6, scale = 4, cell_w = 150, cell_h = 150;
    const std::size_t n = predicted.size(), rows = (n + columns - 1) / columns;
    const std::size_t H = test.height(), W = test.width();
    std::ofstream svg(path);
    if (!svg) throw ms::FileError(path, "cannot open for writing");
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << columns * cell_w << "\" height=\""
        << rows * cell_h << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
        << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t x0 = (i % columns) * cell_w + (cell_w - W * scale) / 2, y0 = (i / columns) * cell_h + 8;
        svg << "<g transform=\"translate(" << x0 << ' ' << y0 << ") scale(" << scale << ")\">"
            << "<rect width=\"" << W << "\" height=\"" << H << "\" fill=\"black\"/>";
        const auto pixels = test.image(i);
        for (std::size_t y = 0; y < H; ++y)
            for (std::size_t x = 0; x < W; ++x)
                if (const int v = pixels[y * W + x])
                    svg << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"1.05\" height=\"1.05\" fill=\"rgb(" << v
                        << ',' << v << ',' << v << ")\"/>";
        svg << "</g>\n";
        const bool right = predicted[i] == test.label(i);
        svg << "<text x=\"" << (i % columns) * cell_w + cell_w / 2 << "\" y=\"" << y0 + H * scale + 16
            << "\" text-anchor=\"middle\" fill=\"" << (right ? "blue" : "red") << "\">"
            << escape(class_name(predicted[i], fashion)) << " (" << escape(class_name(test.label(i), fashion))
            << ")</text>\n";
    }
    svg << "</svg>\n";
}

// Prints MindSpore's metric dict for the test set at the end of each epoch.
template <class M, class D>
struct EvalEachEpoch {
    M& model;
    D& dataset;
    template <class Ctx>
    void on_train_epoch_end(Ctx& ctx) {
        const ms::EvalResult r = model.eval(dataset);
        std::cout << "epoch " << ctx.cur_epoch_num << " test: " << r << "\n";  // {'Accuracy': 0.98..., 'Loss': 0.05...}
    }
};
template <class M, class D>
EvalEachEpoch(M&, D&) -> EvalEachEpoch<M, D>;  // Clang < 17 deduces no aggregate's arguments by itself

}  // namespace

int main(int argc, char** argv) {
    const Options opt = parse(argc, argv);
    try {
        // The training source in random order, as MindSpore's MnistDataset samples by default.
        const ms::data::MnistDataset train_source(opt.data, "train", /*shuffle=*/true, opt.seed);
        const ms::data::MnistDataset test_source(opt.data, "test");
        auto train = quickstart(train_source).shuffle(10000, opt.seed).batch(32, true);
        auto test = quickstart(test_source).batch(32, false);
        std::cout << "data: " << opt.data.string() << " (" << train_source.size() << " training, "
                  << test_source.size() << " test images); " << train.get_dataset_size() << " steps per epoch\n";

        ms::LeNet5<> net(opt.seed);
        ms::SoftmaxCrossEntropyWithLogits<> loss;
        ms::Momentum optimizer(net, {.learning_rate = 0.01f, .momentum = 0.9f});
        const ms::Metrics metrics{{"Accuracy", ms::metrics::Accuracy{}}, {"Loss", ms::metrics::Loss{}}};  // as quick start's
        ms::Model model(net, loss, optimizer, metrics);

        // As the tutorial does: evaluate after every epoch, and checkpoint once per epoch with ModelCheckpoint.
        EvalEachEpoch evaluate{model, test};
        ms::ModelCheckpoint<> checkpoint("lenet", opt.checkpoints,
                                         {.save_checkpoint_steps = static_cast<std::int64_t>(train.get_dataset_size()),
                                          .keep_checkpoint_max = 10});
        model.train(opt.epochs, train, ms::LossMonitor(375), ms::TimeMonitor(), ms::ProgressBar(), evaluate,
                    checkpoint);
        const auto& held = checkpoint.stats();
        std::cout << "checkpoints in " << opt.checkpoints.string() << " (" << held.saves << " saves held training up for "
                  << std::chrono::duration<double, std::milli>(held.blocked_total).count() << " ms in all):\n";
        std::vector<std::string> names;
        for (const auto& e : std::filesystem::directory_iterator(opt.checkpoints)) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        for (const auto& name : names) std::cout << "  " << name << "\n";

        // save_checkpoint by hand, then load it into a fresh LeNet5: the same accuracy.
        const auto by_hand = opt.checkpoints / "lenet_by_hand.ckpt";
        ms::save_checkpoint(net, by_hand);
        ms::LeNet5<> fresh(opt.seed + 1000);
        const auto [param_not_load, ckpt_not_load] = ms::load_param_into_net(fresh, ms::load_checkpoint(by_hand));
        ms::Model fresh_model(fresh, {{"Accuracy", ms::metrics::Accuracy{}}});  // Model(net, metrics=...): eval only
        const auto reloaded = fresh_model.eval(test);
        std::cout << "reloaded " << by_hand.string() << " into a fresh LeNet5 (" << param_not_load.size()
                  << " parameters not loaded): " << reloaded << "\n";

        // Resume from the newest ModelCheckpoint file (network and optimizer state) and train on.
        if (opt.more_epochs > 0) {
            const auto latest = ms::latest_checkpoint(opt.checkpoints, checkpoint.prefix() + "-");
            if (!latest) throw ms::Error("no checkpoint to resume from in " + opt.checkpoints.string());
            ms::LeNet5<> resumed(opt.seed + 2000);
            ms::Momentum resumed_optimizer(resumed, 0.01f, 0.9f);
            ms::Model resumed_model(resumed, loss, resumed_optimizer, metrics);
            const auto step = resumed_model.resume(ms::load_checkpoint(*latest));
            std::cout << "resuming from " << latest->filename().string() << " at step " << step << "\n";
            EvalEachEpoch evaluate_resumed{resumed_model, test};
            ms::ModelCheckpoint<> more("lenet", opt.checkpoints,
                                       {.save_checkpoint_steps = static_cast<std::int64_t>(train.get_dataset_size())});
            resumed_model.train(opt.epochs + opt.more_epochs, train, ms::LossMonitor(375), evaluate_resumed, more);
            net = resumed;  // the picture shows the resumed network's predictions
        }

        // Export the trained network for inference elsewhere, as MindSpore's export does, and show that
        // the exported model gives the weights back: a fresh LeNet5 restored from the MindIR file.
        for (const auto& file : ms::export_model<ms::format::mindir>(net, ms::Shape{1, 1, 32, 32}, opt.checkpoints / "lenet"))
            std::cout << "exported " << file.string() << " (" << std::filesystem::file_size(file) << " bytes)\n";
        for (const auto& file : ms::export_model<ms::format::onnx>(net, ms::Shape{1, 1, 32, 32}, opt.checkpoints / "lenet"))
            std::cout << "exported " << file.string() << " (" << std::filesystem::file_size(file) << " bytes)\n";
        {
            ms::LeNet5<> from_model(opt.seed + 3000);
            const auto loaded = ms::load_param_into_net<ms::match::strict>(
                from_model, ms::load_checkpoint(opt.checkpoints / "lenet.mindir"));
            ms::Model m(from_model, {{"Accuracy", ms::metrics::Accuracy{}}});
            std::cout << "restored a fresh LeNet5 from lenet.mindir (" << loaded.param_not_load.size()
                      << " parameters not loaded): " << m.eval(test) << "\n";
        }

        // Predict the first images and draw them with their labels.
        const std::size_t n = std::min(opt.images, test_source.size());
        auto first = quickstart(test_source).take(n).batch(std::max<std::size_t>(n, 1), false);
        ms::Batch batch;
        first.reset(0);
        std::vector<std::int32_t> predicted;
        if (n > 0 && first.next(batch)) {
            const ms::Tensor& logits = model.predict(batch.images);
            for (std::size_t i = 0; i < n; ++i) {
                const float* z = logits.data() + i * logits.shape()[1];
                predicted.push_back(static_cast<std::int32_t>(std::max_element(z, z + logits.shape()[1]) - z));
            }
        }
        const bool fashion = opt.data.string().find("fashion") != std::string::npos;
        write_svg(opt.svg, test_source, predicted, fashion);
        std::size_t right = 0;
        for (std::size_t i = 0; i < predicted.size(); ++i) right += predicted[i] == test_source.label(i);
        std::cout << "wrote " << opt.svg.string() << ": " << right << " of " << predicted.size()
                  << " first test images predicted right\n";
    } catch (const ms::Error& e) {
        std::cerr << "lenet_demo: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
