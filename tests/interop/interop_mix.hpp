// The checkpoint the interop tests save (LeNet5 + Momentum state, append_dict values of every kind,
// every dtype, empty tensors, 0-d scalars) and a plain list of what was saved, to predict records from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/mindsave.hpp"

namespace mindsave::interop {

// MindSpore's str(dtype) names and element sizes, written out here rather than taken from
// mindsave's own table, so a wrong entry there shows up as a mismatch.
inline std::string_view mindspore_type_name(DType t) {
    switch (t) {
        case DType::Bool: return "Bool";
        case DType::Int8: return "Int8";
        case DType::Int16: return "Int16";
        case DType::Int32: return "Int32";
        case DType::Int64: return "Int64";
        case DType::UInt8: return "UInt8";
        case DType::UInt16: return "UInt16";
        case DType::UInt32: return "UInt32";
        case DType::UInt64: return "UInt64";
        case DType::Float16: return "Float16";
        case DType::Float32: return "Float32";
        case DType::Float64: return "Float64";
        case DType::BFloat16: return "BFloat16";
    }
    return "?";
}
inline std::size_t mindspore_type_size(std::string_view name) {
    if (name == "Bool" || name == "Int8" || name == "UInt8") return 1;
    if (name == "Int16" || name == "UInt16" || name == "Float16" || name == "BFloat16") return 2;
    if (name == "Int32" || name == "UInt32" || name == "Float32" || name == "str") return 4;
    if (name == "Int64" || name == "UInt64" || name == "Float64") return 8;
    return 0;
}
inline constexpr DType all_dtypes[] = {DType::Bool,   DType::Int8,    DType::Int16,   DType::Int32,  DType::Int64,
                                       DType::UInt8,  DType::UInt16,  DType::UInt32,  DType::UInt64, DType::Float16,
                                       DType::Float32, DType::Float64, DType::BFloat16};

// One value as MindSpore's save_checkpoint sees it before framing.
struct Saved {
    std::string tag;                  // UTF-8
    std::string tensor_type;          // "Float32", ..., or "str"
    std::vector<std::int64_t> shape;  // empty for a 0-d tensor and for a str value
    std::string content;              // raw element bytes; for str the UTF-32LE code points
    bool is_str = false;
    std::string text;                 // the str value, UTF-8
};

// The str value, spelled twice by the compiler (UTF-8 and UTF-32) so neither side converts.
inline std::string note_utf8() {
    return reinterpret_cast<const char*>(u8"Grüße, 世界 ✓ 😀");
}
inline std::string note_utf32le() {
    std::string out;
    for (char32_t c : std::u32string_view(U"Grüße, 世界 ✓ 😀"))
        for (int b = 0; b < 4; ++b) out += static_cast<char>((static_cast<std::uint32_t>(c) >> (8 * b)) & 0xff);
    return out;
}

class Mix {
public:
    Mix() {
        // One Momentum step on fixed gradients, so moments and global_step are not all zeros.
        int i = 0;
        visit_parameters(net_, [&](std::string_view, auto& p) {
            for (auto& x : p.grad) x = static_cast<float>(i++ % 17 - 8) * 0.01f;
        });
        opt_.step();
        visit_parameters(train_, [&](std::string_view name, auto& p) {
            const auto v = view_of(p);
            add_saved(std::string(name), v.dtype, v.shape, v.bytes);
        });

        append(NamedValue("epoch_num", 5));  // int -> Int64 0-d
        append(NamedValue("offset", -3));
        append(NamedValue("loss_scale", 1024.5));  // float -> Float32 0-d
        append(NamedValue("converged", true));     // bool -> Bool 0-d
        // 13 characters, under the tests' slice_bytes: MindSpore cannot split a str (array_split of a 0-d array).
        append_dict_.emplace_back("note", note_utf8());
        saved_.push_back({"note", "str", {}, note_utf32le(), true, note_utf8()});
        // np.array("") is <U1: MindSpore stores an empty string as one NUL character, 4 zero bytes.
        append_dict_.emplace_back("empty_note", std::string());
        saved_.push_back({"empty_note", "str", {}, std::string(4, '\0'), true, ""});

        // Every dtype as a [5, 7] tensor: 35 elements, so 1-, 2-, 4- and 8-byte types split differently.
        for (DType t : all_dtypes) {
            TensorRecord r;
            r.name = "dtype." + std::string(mindspore_type_name(t));
            r.dtype = t;
            r.shape = {5, 7};
            r.data.resize(35 * dtype_size(t));
            for (std::size_t k = 0; k < r.data.size(); ++k)
                r.data[k] = static_cast<std::byte>(t == DType::Bool ? (k % 3 == 0) : (k * 37 + 11) & 0xff);
            append(NamedValue(std::move(r)));
        }
        append(NamedValue(TensorRecord::scalar<float16>("scalar.f16", float16::from_float(1.5f))));
        append(NamedValue(TensorRecord::scalar<bfloat16>("scalar.bf16", bfloat16::from_float(-2.25f))));
        append(NamedValue(TensorRecord::scalar<double>("scalar.f64", 3.141592653589793)));
        append(NamedValue(TensorRecord::scalar<std::uint64_t>("scalar.u64", 0xfedcba9876543210ull)));
        append(NamedValue(TensorRecord::scalar<std::int8_t>("scalar.i8", -7)));
        append(raw("empty.f32", DType::Float32, {0}));
        append(raw("empty.i32", DType::Int32, {3, 0}));
        append(raw("exact.100", DType::Float32, {25}));  // exactly slice_bytes: not split (MindSpore splits on >)
        append(raw("u8.301", DType::UInt8, {301}));      // two-byte dim varint, uneven split
        append(raw(reinterpret_cast<const char*>(u8"π.权重"), DType::Float32, {2}));
        append(raw("long." + std::string(150, 'x'), DType::Int16, {3}));  // two-byte tag length
    }
    Mix(const Mix&) = delete;  // the optimizer points into the network
    Mix& operator=(const Mix&) = delete;

    void save(const std::filesystem::path& path, format::ckpt::Writer writer, bool crc, std::size_t slice_bytes) {
        save_checkpoint(train_, path,
                        {.append_dict = append_dict_, .crc_check = crc, .writer = writer, .slice_bytes = slice_bytes});
    }
    const std::vector<Saved>& saved() const noexcept { return saved_; }

private:
    static TensorRecord raw(std::string name, DType t, Shape shape) {
        TensorRecord r;
        r.name = std::move(name);
        r.dtype = t;
        r.shape = std::move(shape);
        r.data.resize(element_count(r.shape) * dtype_size(t));
        for (std::size_t i = 0; i < r.data.size(); ++i) r.data[i] = static_cast<std::byte>((i * 13 + 5) & 0xff);
        return r;
    }
    void add_saved(std::string tag, DType t, const Shape& shape, std::span<const std::byte> bytes) {
        Saved s{std::move(tag), std::string(mindspore_type_name(t)), {}, {}, false, {}};
        for (auto d : shape) s.shape.push_back(static_cast<std::int64_t>(d));
        s.content.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        saved_.push_back(std::move(s));
    }
    void append(NamedValue v) {
        add_saved(v.record.name, v.record.dtype, v.record.shape, v.record.data);
        append_dict_.push_back(std::move(v));
    }

    LeNet5<> net_{7};
    Momentum opt_{net_, 0.01f, 0.9f};
    ParameterUnion<LeNet5<>, Momentum> train_ = train_network(net_, opt_);  // MindSpore's train network
    std::vector<NamedValue> append_dict_;
    std::vector<Saved> saved_;
};

}  // namespace mindsave::interop
