// format::pth: PyTorch's torch.save zip files (.pth, .pt) of a state dict, read safely (no code runs:
// an allow-listed pickle subset, bounds-checked zip) and written so torch.load(weights_only=True) reads them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mindsave/core/byte_count.hpp"
#include "mindsave/core/endian.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/formats/concepts.hpp"
#include "mindsave/formats/mapped.hpp"
#include "mindsave/formats/planned_read.hpp"
#include "mindsave/formats/pth_pickle.hpp"
#include "mindsave/io/crc32_ahead.hpp"
#include "mindsave/io/file.hpp"
#include "mindsave/io/zip.hpp"

namespace mindsave::format {

// No crc option: every zip entry carries its CRC-32.
struct PthWriteOptions {
    std::uint64_t zip64_at = 0xffffffff;  // sizes and offsets from here on use zip64 fields (tests lower it)
    io::Durability durability = io::Durability::durable;  // page_cache: no fsync, as torch.save
};
struct PthReadOptions {
    bool crc_check = false;  // verify the CRC-32 of data.pkl and of every storage read
};

struct pth {
    static constexpr std::string_view extension = ".pth";
    static constexpr std::string_view other_extension = ".pt";  // torch.save's other usual suffix: kept as given
    static constexpr std::string_view archive_name = "archive";  // the folder inside the zip torch.load expects one of

    using WriteOptions = PthWriteOptions;
    using ReadOptions = PthReadOptions;

    // A parsed file: record views into the archive (a non-contiguous tensor, a number or a string gets
    // its own buffer), in the state dict's order; nested dicts give dotted names ("model.fc.weight").
    class Contents {
    public:
        Contents() = default;
        Contents(Contents&&) noexcept = default;  // vector and deque moves keep the viewed names and buffers in place
        Contents& operator=(Contents&&) noexcept = default;
        Contents(const Contents&) = delete;  // a copy's views would point into the original
        Contents& operator=(const Contents&) = delete;

        const std::vector<RecordView>& records() const noexcept { return records_; }

    private:
        friend struct pth;
        std::vector<std::string> names_;
        std::deque<std::vector<std::byte>> owned_;
        std::vector<RecordView> records_;
    };

    static Contents parse(std::span<const std::byte> bytes, const std::filesystem::path& path,
                          const ReadOptions& options = {}) {
        if (bytes.size() >= 2 && bytes[0] == std::byte{0x80} && bytes[1] <= std::byte{5})
            throw FormatError(path, "a legacy (PyTorch < 1.6, _use_new_zipfile_serialization=False) torch.save file: "
                                    "only the zip format is read; re-save it with a newer torch.save");
        const io::ZipReader zip(bytes, path);
        if (zip.entries().empty()) throw FormatError(path, "an empty ZIP archive, not a torch.save file");
        const std::string& first = zip.entries().front().name;
        const auto slash = first.find('/');
        const std::string prefix = slash == std::string::npos ? "" : first.substr(0, slash + 1);
        const io::ZipEntry* pkl = zip.find(prefix + "data.pkl");
        if (!pkl)
            throw FormatError(path, zip.find(prefix + "constants.pkl")
                                        ? "a TorchScript archive (torch.jit.save), not a torch.save state dict"
                                        : "a ZIP archive without '" + prefix + "data.pkl': not a torch.save file");
        if (const auto* order = zip.find(prefix + "byteorder");
            order && std::string_view(reinterpret_cast<const char*>(order->data.data()), order->data.size()) != "little")
            throw FormatError(path, "a big-endian torch.save file: only little-endian files are read");
        if (options.crc_check) zip.check_crc(*pkl);

        detail::PickledStateDict dict;
        try {
            dict = detail::Unpickler(pkl->data).state_dict();
        } catch (const detail::PickleError& e) {
            throw FormatError(path, prefix + "data.pkl: " + e.what +
                                        (e.offset == std::string::npos ? "" : " (at byte " + std::to_string(e.offset) + ")"));
        }

        std::vector<std::span<const std::byte>> storage_bytes;
        for (const auto& s : dict.storages) {
            const io::ZipEntry* entry = zip.find(prefix + "data/" + s.key);
            if (!entry) throw FormatError(path, "storage '" + s.key + "' is missing (no entry " + prefix + "data/" + s.key + ")");
            const std::uint64_t esize = dtype_size(s.dtype);
            if (s.numel > entry->data.size() / esize || s.numel * esize != entry->data.size())
                throw FormatError(path, "storage '" + s.key + "' should hold " + std::to_string(s.numel) + " " +
                                            std::string(dtype_name(s.dtype)) + " elements, its entry has " +
                                            std::to_string(entry->data.size()) + " bytes");
            if (options.crc_check) zip.check_crc(*entry);
            storage_bytes.push_back(entry->data);
        }

        Contents out;
        out.names_.reserve(dict.values.size());
        for (const auto& v : dict.values) out.names_.push_back(v.name);
        out.records_.reserve(dict.values.size());
        for (std::size_t i = 0; i < dict.values.size(); ++i) {
            const auto& v = dict.values[i];
            RecordView r;
            r.name = out.names_[i];
            switch (v.kind) {
                case detail::PickledValue::Kind::tensor:
                    tensor_view(v, dict.storages[v.tensor.storage], storage_bytes[v.tensor.storage], out, r, path);
                    break;
                case detail::PickledValue::Kind::string:
                    r.is_string = true;
                    r.data = out.owned_.emplace_back(mindsave::detail::utf8_to_utf32le(v.text));
                    break;
                case detail::PickledValue::Kind::integer: r.dtype = DType::Int64, r.data = own(out, v.integer); break;
                case detail::PickledValue::Kind::boolean: r.dtype = DType::Bool, r.data = own(out, v.integer != 0); break;
                case detail::PickledValue::Kind::floating: r.dtype = DType::Float64, r.data = own(out, v.floating); break;
            }
            out.records_.push_back(std::move(r));
        }
        return out;
    }

    // Contiguous tensors as views into the file's bytes: a memory map (zero copy), or a small file read whole.
    using Mapped = detail::MappedContents<pth>;

    static std::vector<TensorRecord> read(const std::filesystem::path& path, const ReadOptions& options = {}) {
        return read_if(path, options, [](std::string_view) { return true; });
    }
    // The tensors keep(name) accepts, copied from the file's mapping: a large file's into one arena, on
    // every thread (planned_read.hpp).
    template <class Keep>
    static std::vector<TensorRecord> read_if(const std::filesystem::path& path, const ReadOptions& options, Keep&& keep) {
        if (io::detail::size_or_zero(path) >= detail::planned_read_min_bytes)
            return detail::read_planned(detail::MappedPlan<pth>(Mapped(path, options, /*populate=*/true)), keep);
        return detail::read_records<pth>(path, options, keep);
    }

    // Writes records atomically as torch.save(state_dict) does: an OrderedDict of tensors (str values
    // as Python str) in archive/data.pkl, one storage per tensor in archive/data/N, 64-byte aligned.
    static void write(const std::filesystem::path& path, std::span<const RecordView> records,
                      const WriteOptions& options = {}) {
        const std::vector<std::byte> pickle = pickle_state_dict(records);
        io::AtomicFile file(path);
        io::ZipWriter zip(&file, options.zip64_at);
        add_entries(zip, records, pickle, /*with_crc=*/true);
        zip.finish();
        file.commit(0644, options.durability);  // as torch.save leaves it: writable, so torch.save may overwrite it
    }

    // The exact size write() produces for records (no disk I/O).
    static std::size_t serialized_size(std::span<const RecordView> records, const WriteOptions& options = {}) {
        const std::vector<std::byte> pickle = pickle_state_dict(records);
        io::ZipWriter zip(nullptr, options.zip64_at);
        add_entries(zip, records, pickle, /*with_crc=*/false);
        zip.finish();
        return static_cast<std::size_t>(zip.bytes_written());
    }

private:
    template <class T>
    static std::span<const std::byte> own(Contents& out, T value) {
        auto& b = out.owned_.emplace_back(sizeof(T));
        std::memcpy(b.data(), &value, sizeof(T));
        return b;
    }

    // A view of a contiguous tensor; a strided one is gathered into a buffer of its own.
    static void tensor_view(const detail::PickledValue& v, const detail::TorchStorage& s, std::span<const std::byte> storage,
                            Contents& out, RecordView& r, const std::filesystem::path& path) {
        const auto& t = v.tensor;
        const std::size_t esize = dtype_size(s.dtype);
        r.dtype = s.dtype;
        r.shape.assign(t.sizes.begin(), t.sizes.end());
        const std::string where = "tensor '" + v.name + "' (size " + shape_string(r.shape) + ", storage '" + s.key + "')";
        if (std::find(t.sizes.begin(), t.sizes.end(), std::uint64_t{0}) != t.sizes.end()) return;  // no elements
        if (!checked_byte_count(t.sizes, esize)) throw FormatError(path, where + ": its size overflows");
        std::uint64_t last = t.offset, count = 1, expected_stride = 1;  // last: the highest element index used
        bool contiguous = true;
        for (std::size_t d = t.sizes.size(); d-- > 0;) {
            const std::uint64_t reach = t.sizes[d] - 1;
            if (t.strides[d] != 0 && reach > (UINT64_MAX - last) / t.strides[d])
                throw FormatError(path, where + ": its strides overflow");
            last += reach * t.strides[d];
            count *= t.sizes[d];  // fits: the byte count was checked above
            if (t.sizes[d] != 1 && t.strides[d] != expected_stride) contiguous = false;
            expected_stride = count;
        }
        if (last >= s.numel)
            throw FormatError(path, where + ": reaches element " + std::to_string(last) + " of a storage of " +
                                        std::to_string(s.numel) + " (offset " + std::to_string(t.offset) + ")");
        if (contiguous) {
            r.data = storage.subspan(static_cast<std::size_t>(t.offset) * esize, static_cast<std::size_t>(count) * esize);
            return;
        }
        if (count > s.numel)  // a broadcast (stride 0) view: gathering it could take any amount of memory
            throw FormatError(path, where + ": a strided view with more elements than its storage; call .contiguous() "
                                            "on it before torch.save");
        auto& buffer = out.owned_.emplace_back(static_cast<std::size_t>(count) * esize);
        std::vector<std::uint64_t> index(t.sizes.size(), 0);
        for (std::size_t n = 0; n < count; ++n) {
            std::uint64_t at = t.offset;
            for (std::size_t d = 0; d < index.size(); ++d) at += index[d] * t.strides[d];
            std::memcpy(buffer.data() + n * esize, storage.data() + at * esize, esize);
            for (std::size_t d = index.size(); d-- > 0;) {
                if (++index[d] < t.sizes[d]) break;
                index[d] = 0;
            }
        }
        r.data = buffer;
    }

    // with_crc: the storages' CRC-32s are computed ahead of the writes, on a thread of their own
    static void add_entries(io::ZipWriter& zip, std::span<const RecordView> records, const std::vector<std::byte>& pickle,
                            bool with_crc) {
        const std::string base(archive_name);
        zip.add(base + "/data.pkl", pickle);
        zip.add(base + "/byteorder", std::as_bytes(std::span<const char>("little", 6)));
        std::vector<std::span<const std::byte>> storages;
        if (with_crc)
            for (const auto& r : records)
                if (!r.is_string) storages.push_back(r.data);
        io::Crc32Ahead crcs(std::move(storages));
        std::size_t key = 0;
        for (const auto& r : records)
            if (!r.is_string) {
                const std::string name = base + "/data/" + std::to_string(key);
                if (with_crc) zip.add(name, r.data, crcs[key]);
                else zip.add(name, r.data, 0);
                ++key;
            }
        zip.add(base + "/version", std::as_bytes(std::span<const char>("3\n", 2)));
    }

    static std::string_view storage_type(const RecordView& r) {
        for (const auto& [type, dtype] : detail::torch_storage_types)
            if (dtype == r.dtype) return type;
        throw DTypeError("tensor '" + std::string(r.name) + "' is " + std::string(dtype_name(r.dtype)) +
                         ", which has no storage type in torch.save's format: cast it to a signed type first");
    }

    // Pickle protocol 2 with only the opcodes torch 1.13's weights_only unpickler knows.
    struct Pickler {
        std::vector<std::byte> out;
        std::uint32_t memo = 0;
        void op(unsigned char c) { out.push_back(static_cast<std::byte>(c)); }
        void le(std::uint64_t v, int n) { append_le(out, v, static_cast<std::size_t>(n)); }
        void text(std::string_view s) {
            op('X');
            le(s.size(), 4);
            for (const char c : s) out.push_back(static_cast<std::byte>(c));
        }
        void integer(std::uint64_t v) {
            if (v < 0x100) op('K'), le(v, 1);
            else if (v < 0x10000) op('M'), le(v, 2);
            else if (v < 0x80000000u) op('J'), le(v, 4);
            else {  // LONG1: the shortest little-endian two's complement; a non-negative value needs a clear top bit
                int n = 1;
                while (n < 8 && (v >> (8 * n - 1)) != 0) ++n;
                if (n == 8 && (v >> 63)) n = 9;
                op(0x8a), le(static_cast<std::uint64_t>(n), 1), le(v, std::min(n, 8));
                if (n == 9) le(0, 1);
            }
        }
        void ints(const Shape& v) {
            if (v.size() > 3) op('(');
            for (const auto x : v) integer(x);
            constexpr unsigned char tuples[] = {')', 0x85, 0x86, 0x87};
            op(v.size() <= 3 ? tuples[v.size()] : 't');
        }
        std::uint32_t put() {  // BINPUT / LONG_BINPUT of the top of the stack
            if (memo < 0x100) op('q'), le(memo, 1);
            else op('r'), le(memo, 4);
            return memo++;
        }
        void get(std::uint32_t i) {
            if (i < 0x100) op('h'), le(i, 1);
            else op('j'), le(i, 4);
        }
        void global(std::string_view module, std::string_view name, std::unordered_map<std::string, std::uint32_t>& seen) {
            const std::string key = std::string(module) + "\n" + std::string(name) + "\n";
            if (const auto it = seen.find(key); it != seen.end()) return get(it->second);
            op('c');
            for (const char c : key) out.push_back(static_cast<std::byte>(c));
            seen.emplace(key, put());
        }
    };

    static std::vector<std::byte> pickle_state_dict(std::span<const RecordView> records) {
        std::unordered_set<std::string_view> names;
        for (const auto& r : records) {
            if (!names.insert(r.name).second)
                throw ParameterError("'" + std::string(r.name) + "' is given twice: a state dict's names are unique");
            if (io::detail::find_invalid_utf8(r.name) != std::string_view::npos)
                throw ParameterError("name '" + std::string(r.name) + "' is not UTF-8: Python str keys need UTF-8");
            if (r.is_string) continue;
            storage_type(r);
            if (element_count(r.shape) * dtype_size(r.dtype) != r.data.size())
                throw ShapeError("tensor '" + std::string(r.name) + "': shape " + shape_string(r.shape) +
                                 " does not match its " + std::to_string(r.data.size()) + " bytes");
        }
        Pickler p;
        std::unordered_map<std::string, std::uint32_t> globals;
        p.op(0x80), p.le(2, 1);
        p.global("collections", "OrderedDict", globals);
        p.op(')'), p.op('R'), p.put();
        std::size_t key = 0, in_batch = 0;
        std::uint32_t storage_text = UINT32_MAX, cpu_text = UINT32_MAX;
        for (const auto& r : records) {
            if (in_batch == 0) p.op('(');
            p.text(r.name);
            if (r.is_string) {
                p.text(mindsave::detail::utf32le_to_utf8(r.data));
            } else {
                p.global("torch._utils", "_rebuild_tensor_v2", globals);
                p.op('('), p.op('(');
                if (storage_text == UINT32_MAX) p.text("storage"), storage_text = p.put();
                else p.get(storage_text);
                p.global("torch", storage_type(r), globals);
                p.text(std::to_string(key++));
                if (cpu_text == UINT32_MAX) p.text("cpu"), cpu_text = p.put();
                else p.get(cpu_text);
                p.integer(element_count(r.shape));
                p.op('t'), p.op('Q');  // the persistent id tuple, BINPERSID
                p.integer(0);         // storage offset
                p.ints(r.shape);
                Shape strides(r.shape.size());
                std::size_t stride = 1;
                for (std::size_t d = r.shape.size(); d-- > 0;)  // torch's contiguous strides: size 0 counts as 1
                    strides[d] = stride, stride *= std::max<std::size_t>(r.shape[d], 1);
                p.ints(strides);
                p.op(0x89);  // requires_grad=False
                p.global("collections", "OrderedDict", globals);
                p.op(')'), p.op('R');  // backward_hooks = OrderedDict()
                p.op('t'), p.op('R');
            }
            if (++in_batch == 1000) p.op('u'), in_batch = 0;  // SETITEMS in batches, as Python's pickler
        }
        if (in_batch) p.op('u');
        p.op('.');
        return std::move(p.out);
    }
};

static_assert(CheckpointFormat<pth> && MappedFormat<pth>);

}  // namespace mindsave::format
