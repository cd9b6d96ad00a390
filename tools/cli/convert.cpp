// mindsave convert: converts among .ckpt, safetensors and .pth, renaming for the target; reads MindIR and ONNX too.

#include <algorithm>
#include <cstddef>
#include <deque>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mindsave/checkpoint/rename.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/name_rules.hpp"
#include "mindsave/formats/ckpt.hpp"
#include "mindsave/formats/pth.hpp"
#include "mindsave/formats/safetensors.hpp"
#include "mindsave/models/torchvision.hpp"
#include "cli.hpp"
#include "input.hpp"
#include "text.hpp"

namespace mindsave::cli {
namespace {

using ckpt = mindsave::format::ckpt;

constexpr std::string_view convert_help = R"(usage: mindsave convert IN OUT [options]

Converts a checkpoint between MindSpore's .ckpt, safetensors (as MindSpore >= 2.4 writes it:
metadata {"format": "ms"}) and PyTorch's torch.save files (.pth or .pt, a state dict); the
weights of a MindIR or ONNX model convert too (IN only: a model also holds a graph).
OUT's format comes from its extension: .ckpt, .safetensors, .pth, .pt. IN's comes from its
content where that is certain, else its extension (a note says when they contradict).
OUT is written atomically (beside it, then renamed into place) and may be IN.
The input is read without running any code: a .pth may only hold tensors, numbers and
strings in (nested) dicts; nested keys are joined with '.', Python numbers become 0-d
tensors (int: Int64, float: Float64, bool: Bool), str values stay strings (not in safetensors).

Names follow the target's convention. PyTorch -> MindSpore (.pth, or a safetensors file
without {"format": "ms"}, to .ckpt or .safetensors): for every BatchNorm (a name P.running_mean
exists) P.weight, P.bias, P.running_mean, P.running_var become P.gamma, P.beta, P.moving_mean,
P.moving_variance and P.num_batches_tracked is dropped. MindSpore -> PyTorch: the reverse,
adding P.num_batches_tracked = 0 (what torch's BatchNorm assumes when it is missing).

options:
  --map FILE      rename with FILE first (names as they are in IN), one rule per line:
                    OLD NEW          rename the name OLD to NEW
                    OLD* NEW*        rename every name starting with OLD: that prefix becomes NEW
                    a*.b*.w x*.y*.w  each '*' matches any text (the shortest that fits); NEW's
                                     k-th '*' takes what OLD's k-th matched (at most 4 per rule)
                    OLD -            drop OLD ('OLD* -' drops a prefix)
                  '#' starts a comment; an exact rule beats a pattern, the pattern with the most
                  literal characters beats the others; rules that match nothing are reported on stderr
  --map builtin:torchvision-resnet50
                  a compiled-in map, checked complete at compile time: a torchvision resnet50
                  state dict to mindvision's ResNet50 names (BatchNorm fields included), written
                  in the order MindSpore saves that network
  --keep-names    no BatchNorm renaming (the map still applies)
  --crc           write MindSpore's CRC-32 (a .ckpt footer, safetensors "crc_num"); a .pth
                  always carries a CRC-32 per zip entry
  --dec-key KEY   decrypt IN, saved by MindSpore with enc_key (a .ckpt or MindIR): KEY's bytes are
                  the key (16, 24 or 32 for AES, 16 for SM4); OUT is written unencrypted. A key on
                  the command line shows in the process list, so
  --dec-key-file F  reads it from F's bytes instead
  --dec-mode MODE AES-GCM (MindSpore's default), AES-CBC or SM4-CBC

Two names may not end up the same. Prints one summary line; exit status 0, or 2 on an error.
)";

constexpr OptionSpec convert_options[] = {{"--map", true},       {"--keep-names", false},  {"--crc", false},
                                          {"--dec-key", true},   {"--dec-key-file", true}, {"--dec-mode", true}};

int run_convert(const ParsedArgs& args) {
    constexpr std::string_view names[] = {"IN", "OUT"};
    args.expect_positional(names);
    const fs::path in = args.positional[0], out = args.positional[1];
    const auto out_format = mindsave::format::detect_by_extension(out);
    if (!out_format)
        throw UsageError(args.command, "cannot tell the format of OUT '" + out.string() +
                                           "' from its extension: use .ckpt, .safetensors, .pth or .pt");
    if (*out_format == Detected::mindir || *out_format == Detected::onnx)
        throw UsageError(args.command, "cannot write OUT '" + out.string() + "': " +
                                           (*out_format == Detected::onnx ? "an ONNX" : "a MindIR") + " model holds a graph as well as weights; convert writes .ckpt, .safetensors, "
                                           ".pth or .pt (export a network with export_model to write a model)");
    const bool crc = args.has("--crc");
    if (crc && *out_format == Detected::pth)
        throw UsageError(args.command, "--crc is for .ckpt and .safetensors output: a .pth always carries a CRC-32 per zip entry");
    mindsave::NameMap map;
    const mindsave::torchvision::BuiltinMap* builtin = nullptr;
    if (const auto file = args.value("--map"); file && file->starts_with("builtin:")) {
        const std::string_view name = std::string_view(*file).substr(8);
        for (const auto& m : mindsave::torchvision::builtin_maps)
            if (m.name == name) builtin = &m;
        if (!builtin) {
            std::string known;
            for (const auto& m : mindsave::torchvision::builtin_maps) known += " builtin:" + std::string(m.name);
            throw UsageError(args.command, "no built-in map '" + std::string(name) + "'; there is:" + known);
        }
        map = mindsave::NameMap::from_rules(builtin->rules, *file);
    } else if (file) {
        map = mindsave::NameMap::load(*file);
    }

    const auto decryption = decryption_of(args);
    const Input input = decryption ? Input(in, *decryption) : Input(in, detect_format(in));
    const auto& records = input.records();
    std::vector<std::string> current;
    current.reserve(records.size());
    for (const auto& r : records) current.emplace_back(r.name);

    // 1. the user's map, on IN's names
    std::vector<std::optional<std::string>> final_names(current.begin(), current.end());
    std::size_t map_renamed = 0, map_dropped = 0;
    if (!map.empty()) {
        for (const auto& rule : map.unused(current))
            std::cerr << "mindsave: warning: --map " << *args.value("--map") << " " << escaped(rule, Escape::terminal)
                      << " matches no name in " << in.string() << "\n";
        const auto plan = map.plan(current);
        for (std::size_t i = 0; i < plan.names.size(); ++i) {
            if (!plan.names[i]) ++map_dropped;
            else if (*plan.names[i] != current[i]) ++map_renamed;
            final_names[i] = plan.names[i];
        }
    }
    // 2. the naming convention of the target, on the names that are left
    const bool from_mindspore = input.mindspore_names(), to_mindspore = *out_format != Detected::pth;
    std::vector<std::pair<std::size_t, mindsave::TensorRecord>> added;
    std::size_t bn_renamed = 0, bn_dropped = 0;
    if (from_mindspore != to_mindspore && !args.has("--keep-names")) {
        std::vector<std::string> kept;
        std::vector<std::size_t> where;
        for (std::size_t i = 0; i < final_names.size(); ++i)
            if (final_names[i]) kept.push_back(*final_names[i]), where.push_back(i);
        auto plan = to_mindspore ? mindsave::pytorch_to_mindspore_names(kept) : mindsave::mindspore_to_pytorch_names(kept);
        for (std::size_t k = 0; k < kept.size(); ++k) {
            if (!plan.names[k]) ++bn_dropped;
            else if (*plan.names[k] != kept[k]) ++bn_renamed;
            final_names[where[k]] = std::move(plan.names[k]);
        }
        for (auto& [k, record] : plan.added) added.emplace_back(where[k], std::move(record));
    }

    std::vector<RecordView> views;
    std::unordered_map<std::string_view, std::string_view> source_of;  // output name -> its name in IN
    auto add_view = [&](RecordView v, std::string_view source) {
        const auto [other, fresh] = source_of.emplace(v.name, source);
        if (!fresh)
            throw mindsave::ParameterError(in.string() + ": '" + std::string(other->second) + "' and '" + std::string(source) +
                                           "' would both be saved as '" + std::string(v.name) + "' (fix the --map rules)");
        views.push_back(std::move(v));
    };
    std::deque<std::vector<std::byte>> encoded;  // string values of added records (none today) stay here
    std::size_t next_added = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (final_names[i]) {
            RecordView v = records[i];
            v.name = *final_names[i];
            add_view(std::move(v), records[i].name);
        }
        for (; next_added < added.size() && added[next_added].first == i; ++next_added)
            add_view(added[next_added].second.view(&encoded.emplace_back()), "(added)");
    }
    if (views.empty())
        throw mindsave::ParameterError(in.string() + ": every record is dropped: nothing would be saved (check --map)");
    if (builtin) {  // the target network's order (MindSpore saves a network in it); names it lacks go last
        const auto schema = builtin->target_schema();
        std::unordered_map<std::string_view, std::size_t> rank;
        for (std::size_t i = 0; i < schema.size(); ++i) rank.emplace(schema[i].name, i);
        auto rank_of = [&](const RecordView& v) {
            const auto it = rank.find(v.name);
            return it == rank.end() ? schema.size() : it->second;
        };
        std::stable_sort(views.begin(), views.end(), [&](const RecordView& a, const RecordView& b) { return rank_of(a) < rank_of(b); });
    }

    switch (*out_format) {
        case Detected::ckpt: ckpt::write(out, views, {.crc = crc}); break;
        case Detected::safetensors: mindsave::format::safetensors::write(out, views, {.crc = crc}); break;
        case Detected::pth: mindsave::format::pth::write(out, views); break;
        case Detected::mindir:
        case Detected::onnx: break;  // refused above
    }
    std::string naming = from_mindspore == to_mindspore ? "names kept"
                         : args.has("--keep-names")       ? "names kept (--keep-names)"
                                                          : std::string(to_mindspore ? "PyTorch -> MindSpore" : "MindSpore -> PyTorch") +
                                                                " names: " + std::to_string(bn_renamed) + " renamed, " +
                                                                std::to_string(bn_dropped) + " dropped, " +
                                                                std::to_string(added.size()) + " added";
    std::cout << "wrote " << out.string() << " (" << format_name(*out_format) << ") from " << in.string() << " ("
              << format_name(input.format()) << "): " << views.size() << (views.size() == 1 ? " record, " : " records, ")
              << fs::file_size(out) << " bytes; " << naming;
    if (!map.empty()) std::cout << "; map: " << map_renamed << " renamed, " << map_dropped << " dropped";
    std::cout << (crc ? "; with CRC-32" : "") << "\n";
    return exit_ok;
}


}  // namespace

const Command convert_command{"convert", convert_help, convert_options, run_convert};

}  // namespace mindsave::cli
