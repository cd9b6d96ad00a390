// load_checkpoint<Format>, load_checkpoint_async and load_param_into_net(net, file) for a format the caller
// names, compiling that format's reader only (a program that loads .ckpt files includes this and
// formats/ckpt.hpp). load.hpp adds the default, format::any.
#pragma once

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mindsave/checkpoint/load_param.hpp"
#include "mindsave/checkpoint/match.hpp"
#include "mindsave/core/concepts.hpp"
#include "mindsave/core/parameter_dict.hpp"
#include "mindsave/core/record_plan.hpp"
#include "mindsave/formats/concepts.hpp"
#include "mindsave/formats/mapped.hpp"
#include "mindsave/formats/planned_read.hpp"
#include "mindsave/io/cipher.hpp"
#include "mindsave/io/file.hpp"

namespace mindsave {

// Any parameter holder, by reference, for LoadOptions::net: MindSpore's load_checkpoint(net=...).
class NetReference {
public:
    template <HasParameters Net>
    NetReference(Net& net);  // defined below
    LoadResult load(const ParameterDict& dict, bool strict) const;

private:
    std::function<LoadResult(const ParameterDict&, bool)> load_;
};

struct LoadOptions {
    std::optional<NetReference> net{};        // when set, the loaded dict is also loaded into it
    bool strict_load = false;                 // for net: match::strict instead of match::suffix
    std::vector<std::string> filter_prefix{};   // drop names starting with any of these
    std::vector<std::string> specify_prefix{};  // keep only names starting with one of these
    std::function<bool(std::string_view)> choice_func{};  // keep a name iff true (ignored when a prefix is set)
    bool crc_check = false;                   // verify the crc_num footer
    // MindSpore's dec_key / dec_mode for a file saved with enc_key (.ckpt or MindIR): it is decrypted whole,
    // then read. Needs the optional cipher component (#include "mindsave/io/crypto.hpp", link mindsave::crypto).
    std::string dec_key{};
    std::string dec_mode = "AES-GCM";
    bool allow_untagged_gcm = false;  // also MindSpore <= 1.6's tag-less AES-GCM files (nothing is verified)
};

namespace detail {

inline bool starts_with_any(std::string_view name, const std::vector<std::string>& prefixes) {
    return std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return name.starts_with(p); });
}

inline void check_prefixes(const std::vector<std::string>& prefixes, const char* what) {
    for (const auto& p : prefixes)
        if (p.empty())
            throw ConfigError(std::string("load_checkpoint: '") + what + "' can't include an empty prefix");
}

// load_checkpoint's filter: specify_prefix, then filter_prefix, else choice_func, as MindSpore's.
inline auto load_filter(const LoadOptions& options) {
    check_prefixes(options.filter_prefix, "filter_prefix");
    check_prefixes(options.specify_prefix, "specify_prefix");
    const bool by_prefix = !options.filter_prefix.empty() || !options.specify_prefix.empty();
    return [&options, by_prefix](std::string_view name) {
        if (!options.specify_prefix.empty() && !starts_with_any(name, options.specify_prefix)) return false;
        if (!options.filter_prefix.empty() && starts_with_any(name, options.filter_prefix)) return false;
        return by_prefix || !options.choice_func || options.choice_func(name);
    };
}

// load_checkpoint with dec_key: the file decrypted whole (MindSpore's way), then its records read from the
// plaintext, which is wiped before it is freed.
template <class Format, class ReadOptions>
std::vector<TensorRecord> read_encrypted(const std::filesystem::path& path, const LoadOptions& options,
                                         const ReadOptions& read_options) {
    CipherKey key(options.dec_key, options.dec_mode, "load_checkpoint");
    key.allow_untagged = options.allow_untagged_gcm;
    if constexpr (!requires(std::span<const std::byte> b) { Format::from_plaintext(b, path, read_options); }) {
        throw ConfigError("load_checkpoint: dec_key is for .ckpt and MindIR files, the formats MindSpore encrypts; "
                          "this format has no encrypted form");
    } else {
        const io::MappedFile file(path);
        if (!cipher_magic(file.bytes()))
            throw FormatError(path, "is not encrypted (no MindSpore cipher block at its start); load it without dec_key");
        std::vector<std::byte> plain = decrypt_blocks(file.bytes(), key, path, "load_checkpoint");
        struct Wipe {
            std::vector<std::byte>& bytes;
            ~Wipe() { wipe(bytes); }
        } wipe_after{plain};
        return Format::from_plaintext(plain, path, read_options);
    }
}

// MindSpore raises for an empty dict; the message says why it is empty.
[[noreturn]] inline void throw_nothing_loaded(const std::filesystem::path& path, const LoadOptions& options) {
    if (!options.filter_prefix.empty() || !options.specify_prefix.empty() || options.choice_func)
        throw ParameterError(path.string() + ": the loaded parameter dict is empty after filter or specify; "
                                             "check 'filter_prefix', 'specify_prefix' and 'choice_func'");
    throw ParameterError(path.string() + ": the file holds no parameters (an empty checkpoint); check that it "
                                         "is the file you meant");
}

}  // namespace detail

template <HasParameters Net>
NetReference::NetReference(Net& net)
    : load_([&net](const ParameterDict& dict, bool strict) {
          return strict ? load_param_into_net<match::strict>(net, dict) : load_param_into_net<match::suffix>(net, dict);
      }) {}
inline LoadResult NetReference::load(const ParameterDict& dict, bool strict) const { return load_(dict, strict); }

// Reads a checkpoint of Format into an ordered, editable dict, filtered by prefix or choice_func as
// MindSpore's. load.hpp makes format::any (every readable format, told apart by content) the default.
template <ReadableFormat Format>
ParameterDict load_checkpoint(const std::filesystem::path& path, const LoadOptions& options = {}) {
    const auto keep = detail::load_filter(options);
    const auto read_options = format::detail::read_options_with_crc_check<Format>(options.crc_check);
    std::vector<TensorRecord> records;
    if (!options.dec_key.empty()) {
        records = detail::read_encrypted<Format>(path, options, read_options);
        std::erase_if(records, [&](const TensorRecord& r) { return !keep(r.name); });
    } else if constexpr (requires { Format::read_if(path, read_options, keep); }) {
        records = Format::read_if(path, read_options, keep);  // a small .ckpt: no map
    } else if constexpr (MappedFormat<Format>) {
        records = copy_records(typename Format::Mapped(path, read_options).records(), keep);  // copies what it keeps
    } else {
        records = Format::read(path, read_options);
        std::erase_if(records, [&](const TensorRecord& r) { return !keep(r.name); });
    }
    ParameterDict dict(std::move(records));
    if (dict.empty()) detail::throw_nothing_loaded(path, options);
    if (options.net) options.net->load(dict, options.strict_load);
    return dict;
}

// MindSpore 2.x's load_checkpoint_async: load_checkpoint on a thread of its own, so reading and decoding
// overlap the caller's work; get() on the future gives the dict or raises the load's error. With
// options.net the network is loaded on that thread too: leave it alone until the future is ready.
template <ReadableFormat Format>
std::future<ParameterDict> load_checkpoint_async(std::filesystem::path path, LoadOptions options = {}) {
    return std::async(std::launch::async, [path = std::move(path), options = std::move(options)] {
        return load_checkpoint<Format>(path, options);
    });
}

// load_param_into_net(net, file): the same matching, planned from the file's record headers, and each tensor's
// bytes read straight from the file into its parameter (a .ckpt by preadv, a large file on every core; formats
// without a plan of their own copy from their mapping) -- one copy, no dict. options filter as load_checkpoint's
// do. Nothing changes unless every assignment fits; a malformed or truncated file, or a CRC mismatch with
// crc_check, is found first.
template <MatchPolicy Match = match::suffix, ReadableFormat Format, HasParameters Net>
LoadResult load_param_into_net(Net& net, const std::filesystem::path& path, const LoadOptions& options = {}) {
    if (options.net)
        throw ConfigError("load_param_into_net(net, file): the network is the first argument; LoadOptions::net is "
                          "for load_checkpoint");
    if (!options.dec_key.empty())  // decrypted whole first, as load_checkpoint does; still all or nothing
        return load_param_into_net<Match>(net, load_checkpoint<Format>(path, options));
    const auto keep = detail::load_filter(options);
    const auto read_options = format::detail::read_options_with_crc_check<Format>(options.crc_check);
    std::vector<detail::ParameterSlot> slots;
    visit_parameters(net, [&](std::string_view name, auto& p) { slots.push_back({std::string(name), view_of(p)}); });
    const detail::MatchRules rules{Match::prefix_fallback, Match::cast_within_family};
    const auto load = [&](const auto& plan) {
        const auto& all = plan.headers();
        if (std::all_of(all.begin(), all.end(), [&](const RecordHeader& h) { return keep(h.name); })) {
            if (all.empty()) detail::throw_nothing_loaded(path, options);
            return detail::load_into_slots(slots, all, {}, rules,
                                          [&](std::span<const ReadJob> jobs) { format::detail::read_in_parallel(plan, jobs); });
        }
        std::vector<RecordHeader> kept;
        std::vector<std::size_t> from;  // kept[i] is all[from[i]]
        for (std::size_t i = 0; i < all.size(); ++i)
            if (keep(all[i].name)) kept.push_back(all[i]), from.push_back(i);
        if (kept.empty()) detail::throw_nothing_loaded(path, options);
        return detail::load_into_slots(slots, kept, {}, rules, [&](std::span<const ReadJob> jobs) {
            std::vector<ReadJob> in_file(jobs.begin(), jobs.end());
            for (auto& job : in_file) job.record = from[job.record];
            format::detail::read_in_parallel(plan, std::span<const ReadJob>(in_file));
        });
    };
    if constexpr (requires { typename Format::Plan; }) {
        return load(typename Format::Plan(path, read_options));
    } else if constexpr (MappedFormat<Format>) {
        return load(format::detail::MappedPlan<Format>(path, read_options));
    } else {
        return load_param_into_net<Match>(net, load_checkpoint<Format>(path, options));
    }
}

// load_checkpoint, then load_param_into_net(net, dict) as MindSpore does when given a net.
template <MatchPolicy Match = match::suffix, ReadableFormat Format, HasParameters Net>
ParameterDict load_checkpoint(const std::filesystem::path& path, Net& net, const LoadOptions& options = {}) {
    ParameterDict dict = load_checkpoint<Format>(path, options);
    load_param_into_net<Match>(net, dict);
    return dict;
}

}  // namespace mindsave
