// save_checkpoint as MindSpore's: a network, an optimizer, any parameter holder, a ParameterDict or
// a list of {name, value}; append_dict, choice_func, crc_check, async_save; written atomically.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "mindsave/checkpoint/async_writer.hpp"
#include "mindsave/core/concepts.hpp"
#include "mindsave/core/parameter_dict.hpp"
#include "mindsave/core/record_views.hpp"
#include "mindsave/formats/ckpt.hpp"
#include "mindsave/formats/concepts.hpp"

namespace mindsave {

struct SaveOptions {
    std::vector<NamedValue> append_dict{};              // written after the parameters, in order
    std::function<bool(std::string_view)> choice_func{};  // keep a parameter iff true (not applied to append_dict)
    bool crc_check = false;                             // append MindSpore's crc_num footer
    bool async_save = false;  // snapshot now, write on a background thread (see wait_for_async_save)
    bool integrated_save = true;  // MindSpore merges sliced parameters; one process has none to merge
    format::ckpt::Writer writer = format::ckpt::Writer::v2_3;  // which MindSpore generation's bytes
    std::size_t slice_bytes = format::ckpt::default_slice_bytes;  // split tensors larger than this
    // durable (the default): fsync before and after the rename, so the file survives a power loss.
    // page_cache: no fsync, what MindSpore's and PyTorch's saves do (compare like with like); the file is
    // still complete or absent for other processes.
    io::Durability durability = io::Durability::durable;
    // MindSpore's enc_key / enc_mode: the file as AES-GCM (or "AES-CBC", "SM4-CBC") cipher blocks. Needs the
    // optional cipher component (#include "mindsave/io/crypto.hpp", link mindsave::crypto); .ckpt only.
    std::string enc_key{};
    std::string enc_mode = "AES-GCM";
};

namespace detail {

// save_checkpoint's background writer: at most one save at a time, as MindSpore's; a new save waits for the
// previous one, and its failure is raised then (or by wait_for_async_save).
inline AsyncWriter& async_save_writer() {
    static AsyncWriter writer(/*max_in_flight=*/1);
    return writer;
}

// The format's write options from save_checkpoint's, each where the format has it: format::ckpt takes
// them all, format::safetensors crc and durability, format::pth durability (its zip entries always carry
// a CRC-32).
template <CheckpointFormat Format>
typename Format::WriteOptions write_options_for(const SaveOptions& options) {
    using W = typename Format::WriteOptions;
    W w = format::detail::write_options_with_crc<Format>(options.crc_check);
    if constexpr (requires(W& x) { x.writer = options.writer; }) w.writer = options.writer;
    if constexpr (requires(W& x) { x.slice_bytes = options.slice_bytes; }) w.slice_bytes = options.slice_bytes;
    if constexpr (requires(W& x) { x.durability = options.durability; }) w.durability = options.durability;
    if constexpr (requires(W& x) { x.enc_key = options.enc_key; }) {
        w.enc_key = options.enc_key;
        w.enc_mode = options.enc_mode;
    } else if (!options.enc_key.empty()) {
        throw ConfigError("save_checkpoint: enc_key encrypts .ckpt files only, as MindSpore's (this format has no "
                          "encrypted form)");
    }
    return w;
}

}  // namespace detail

// The file save_checkpoint writes for path: MindSpore appends ".ckpt" to a name that lacks it,
// and refuses a directory.
template <format_requirement::has_extension Format = format::ckpt>
std::filesystem::path checkpoint_file_name(std::filesystem::path path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        throw FileError(path, "is a directory; save_checkpoint needs a file name inside it");
    const std::string name = path.string();
    bool named = name.ends_with(Format::extension);
    if constexpr (requires { Format::other_extension; }) named = named || name.ends_with(Format::other_extension);
    if (!named) path += std::string(Format::extension);
    return path;
}

// Waits for the background save started by save_checkpoint(..., {.async_save = true}); rethrows its error.
inline void wait_for_async_save() { detail::async_save_writer().wait(); }

template <class T>
concept Saveable = HasParameters<T> || std::same_as<std::remove_cvref_t<T>, ParameterDict> ||
                   std::same_as<std::remove_cvref_t<T>, std::vector<NamedValue>> ||
                   std::same_as<std::remove_cvref_t<T>, std::vector<TensorRecord>>;

// Saves obj's parameters (then options.append_dict) to path, ".ckpt" appended when missing.
// Tensor bytes stream from where they live; with async_save they are copied first, so training may go on.
template <CheckpointFormat Format = format::ckpt, class Obj>
void save_checkpoint(Obj& obj, const std::filesystem::path& path, const SaveOptions& options = {}) {
    static_assert(Saveable<Obj>,
                  "save_checkpoint takes a network or optimizer (anything with visit_parameters), a "
                  "ParameterDict, or a std::vector<NamedValue> / std::vector<TensorRecord>");
    const auto file = checkpoint_file_name<Format>(path);
    auto keep = [&](std::string_view name) { return !options.choice_func || options.choice_func(name); };
    RecordViews records;
    using O = std::remove_cvref_t<Obj>;
    if constexpr (std::is_same_v<O, ParameterDict> || std::is_same_v<O, std::vector<TensorRecord>>) {
        for (const auto& r : obj)
            if (keep(r.name)) records.add(r);
    } else if constexpr (std::is_same_v<O, std::vector<NamedValue>>) {
        for (const auto& v : obj)
            if (keep(v.record.name)) records.add(v.record);
    } else {
        records.add_parameters(obj, keep);
    }
    for (const auto& v : options.append_dict) records.add(v.record);

    const auto write_options = detail::write_options_for<Format>(options);
    auto& writer = detail::async_save_writer();
    if (!options.async_save) {
        writer.wait();  // never race a background save of the same file
        Format::write(file, records.views(), write_options);
        return;
    }
    writer.wait_for_room();  // the previous save has ended; its failure is raised here
    // Snapshot: own every byte, so the caller may change the parameters as soon as we return.
    std::vector<TensorRecord> snapshot = copy_records(records.views());
    writer.start([file, write_options, snapshot = std::move(snapshot)](auto&&, auto&&) {
        RecordViews own;
        for (const auto& r : snapshot) own.add(r);
        Format::write(file, own.views(), write_options);
    });
}

template <CheckpointFormat Format = format::ckpt, class Obj>
    requires(!std::is_lvalue_reference_v<Obj>)
void save_checkpoint(Obj&& obj, const std::filesystem::path& path, const SaveOptions& options = {}) {
    save_checkpoint<Format>(obj, path, options);
}

}  // namespace mindsave
