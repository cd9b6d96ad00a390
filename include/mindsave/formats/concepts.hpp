// The contract every storage format meets: CheckpointFormat (saves records), ReadableFormat (loads them),
// ModelFormat (writes a traced graph with its weights). Generic entry points are constrained by these.
#pragma once

#include <concepts>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "mindsave/core/op_graph.hpp"
#include "mindsave/core/record.hpp"

namespace mindsave {

// Each requirement is a concept of its own, so when a format falls short the compiler's note names the
// missing piece ("format_requirement::writes_records<MyFormat> evaluated to false"), not just the whole.
namespace format_requirement {

// static constexpr std::string_view extension = ".ckpt";  (the suffix save_checkpoint adds)
template <class F>
concept has_extension = requires {
    { F::extension } -> std::convertible_to<std::string_view>;
};

// struct WriteOptions { ... };  default-constructible (may be empty)
template <class F>
concept has_write_options = std::default_initializable<typename F::WriteOptions>;

// struct ReadOptions { ... };  default-constructible (may be empty; crc_check is set when it has one)
template <class F>
concept has_read_options = std::default_initializable<typename F::ReadOptions>;

// static void write(const std::filesystem::path&, std::span<const RecordView>, const WriteOptions&);
// atomic: the file appears whole or not at all (io::AtomicFile does this)
template <class F>
concept writes_records = has_write_options<F> &&
    requires(const std::filesystem::path& p, std::span<const RecordView> records, const typename F::WriteOptions& o) {
        F::write(p, records, o);
    };

// static std::vector<TensorRecord> read(const std::filesystem::path&, const ReadOptions&);
template <class F>
concept reads_records = has_read_options<F> &&
    requires(const std::filesystem::path& p, const typename F::ReadOptions& o) {
        { F::read(p, o) } -> std::same_as<std::vector<TensorRecord>>;
    };

// static std::vector<std::filesystem::path> write(path, const OpGraph&, std::span<const RecordView>, const WriteOptions&);
// returns every file written (the model, and external data files if any)
template <class F>
concept writes_models = has_write_options<F> &&
    requires(const std::filesystem::path& p, const OpGraph& g, std::span<const RecordView> w, const typename F::WriteOptions& o) {
        { F::write(p, g, w, o) } -> std::same_as<std::vector<std::filesystem::path>>;
    };

}  // namespace format_requirement

// Saves named tensors to a file: save_checkpoint<F>, ModelCheckpoint<F>, the CLI's convert.
template <class F>
concept CheckpointFormat = format_requirement::has_extension<F> && format_requirement::writes_records<F>;

// Loads named tensors from a file: load_checkpoint<F>, latest_checkpoint<F>.
template <class F>
concept ReadableFormat = format_requirement::reads_records<F>;

// Writes a network's traced graph with its weights: export_model<F>, ModelCheckpoint<F>.
template <class F>
concept ModelFormat = format_requirement::has_extension<F> && format_requirement::writes_models<F>;

// What ModelCheckpoint can save during training: records, or a model with its weights.
template <class F>
concept WritableFormat = CheckpointFormat<F> || ModelFormat<F>;

// Optional capabilities the library uses when a format has them.
// F::Mapped(path, options).records(): views into the file, no copy (load_checkpoint copies only what it keeps).
template <class F>
concept MappedFormat = ReadableFormat<F> &&
    std::constructible_from<typename F::Mapped, const std::filesystem::path&, const typename F::ReadOptions&> &&
    requires(const typename F::Mapped& m) {
        { m.records() } -> std::convertible_to<const std::vector<RecordView>&>;
    };
// F::write_staged(path, records, options) -> a file with commit(): the bytes are written and the caller
// commits (fsync, rename) later, so an async save releases its snapshot before the fsync.
template <class F>
concept StagedFormat = CheckpointFormat<F> &&
    requires(const std::filesystem::path& p, std::span<const RecordView> records, const typename F::WriteOptions& o) {
        F::write_staged(p, records, o).commit();
    };

namespace format::detail {

// A format's options from the generic ones: crc (write) and crc_check (read) where the format has them.
template <class F>
typename F::WriteOptions write_options_with_crc(bool crc) {
    typename F::WriteOptions o{};
    if constexpr (requires { o.crc = crc; }) o.crc = crc;
    return o;
}
template <ReadableFormat F>
typename F::ReadOptions read_options_with_crc_check(bool crc_check) {
    typename F::ReadOptions o{};
    if constexpr (requires { o.crc_check = crc_check; }) o.crc_check = crc_check;
    return o;
}

}  // namespace format::detail

}  // namespace mindsave
