// Named tensors as files hold them: TensorRecord owns its bytes, RecordView points into memory
// (a mapped file, a network's parameter). The neutral currency between formats and networks.
#pragma once

#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mindsave/core/endian.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/huge_pages.hpp"
#include "mindsave/core/record_arena.hpp"
#include "mindsave/core/tensor.hpp"
#include "mindsave/core/utf8.hpp"

namespace mindsave {

// MindSpore writes Python str values (append_dict) as tensor_type "str", UTF-32LE code points.
namespace detail {
inline std::vector<std::byte> utf8_to_utf32le(std::string_view s) {
    std::vector<std::byte> out;
    out.reserve(s.size() * 4);
    auto put = [&](std::uint32_t cp) { append_le(out, cp, 4); };
    for (std::size_t i = 0; i < s.size();) {
        const Utf8Char ch = utf8_char_at(s, i);
        if (ch.length == 0) {  // one bad byte becomes U+FFFD, as Python's errors="replace" does
            put(0xfffd);
            ++i;
            continue;
        }
        put(ch.code_point);
        i += ch.length;
    }
    if (out.empty()) out.resize(4);  // np.array("") is one NUL character (<U1): MindSpore writes 4 zero bytes
    return out;
}
// Decodes UTF-32LE; trailing NULs are dropped, as numpy does for its <U strings.
inline std::string utf32le_to_utf8(std::span<const std::byte> b) {
    std::string out;
    for (std::size_t i = 0; i + 4 <= b.size(); i += 4) {
        auto cp = static_cast<std::uint32_t>(load_le(b.data() + i, 4));
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = 0xfffd;  // not a scalar value
        append_utf8(out, cp);
    }
    while (!out.empty() && out.back() == '\0') out.pop_back();
    return out;
}
}  // namespace detail

// A record seen in place: name, dtype, shape and bytes live elsewhere (file map, tensor memory).
// For a string record, data holds the UTF-32LE characters and dtype is unused.
struct RecordView {
    std::string_view name;
    DType dtype = DType::Float32;
    Shape shape;
    std::span<const std::byte> data;
    bool is_string = false;
};

struct TensorRecord {
    std::string name;
    DType dtype = DType::Float32;
    Shape shape;                      // empty for a 0-d scalar
    RecordBytes data;                 // little-endian elements, C order (a large load's records share one arena)
    std::optional<std::string> text;  // set for a string value (MindSpore "str" record)

    // Equal names, dtypes, shapes, bytes (bit for bit) and text.
    friend bool operator==(const TensorRecord&, const TensorRecord&) = default;

    bool is_string() const noexcept { return text.has_value(); }
    std::size_t element_count() const noexcept { return mindsave::element_count(shape); }

    // The elements as T, in place; T must be the record's dtype.
    template <Element T>
    std::span<T> as() {
        check_type<T>();
        return {reinterpret_cast<T*>(data.data()), data.size() / sizeof(T)};
    }
    template <Element T>
    std::span<const T> as() const {
        check_type<T>();
        return {reinterpret_cast<const T*>(data.data()), data.size() / sizeof(T)};
    }
    template <Element T>
    std::vector<T> values() const {
        const auto s = as<T>();
        return {s.begin(), s.end()};
    }

    // The view writers take; for strings it points at encoded, which must outlive the view.
    RecordView view(std::vector<std::byte>* encoded = nullptr) const {
        if (is_string()) {
            if (!encoded) throw Error("TensorRecord::view of string '" + name + "' needs a buffer to encode into");
            *encoded = detail::utf8_to_utf32le(*text);
            return {name, dtype, {}, *encoded, true};
        }
        return {name, dtype, shape, data, false};
    }

    static TensorRecord from_view(const RecordView& v) {
        TensorRecord r;
        r.name = std::string(v.name);
        if (v.is_string) {
            r.text = detail::utf32le_to_utf8(v.data);
            return r;
        }
        r.dtype = v.dtype;
        r.shape = v.shape;
        r.data.reserve(v.data.size());
        detail::advise_huge_pages(r.data.data(), v.data.size());  // before the copy touches the pages
        r.data.assign(v.data.begin(), v.data.end());
        return r;
    }

    // A copy of an xtensor container's elements.
    template <ElementTensor T>
    static TensorRecord from_tensor(std::string name, const T& t) {
        using E = typename T::value_type;
        TensorRecord r;
        r.name = std::move(name);
        r.dtype = dtype_of_v<E>;
        r.shape.assign(t.shape().begin(), t.shape().end());
        r.data.resize(t.size() * sizeof(E));
        std::memcpy(r.data.data(), t.data(), r.data.size());
        return r;
    }
    // A 0-d tensor of exactly T's dtype.
    template <Element T>
    static TensorRecord scalar(std::string name, T value) {
        TensorRecord r;
        r.name = std::move(name);
        r.dtype = dtype_of_v<T>;
        r.data.resize(sizeof(T));
        std::memcpy(r.data.data(), &value, sizeof(T));
        return r;
    }
    static TensorRecord string(std::string name, std::string value) {
        TensorRecord r;
        r.name = std::move(name);
        r.text = std::move(value);
        return r;
    }

private:
    template <Element T>
    void check_type() const {
        if (is_string()) throw DTypeError("'" + name + "' is a string value, not a tensor");
        if (dtype != dtype_of_v<T>)
            throw DTypeError("tensor '" + name + "' is " + std::string(dtype_name(dtype)) + ", read as " +
                             std::string(dtype_name(dtype_of_v<T>)));
    }
};

// A value given by name to save_checkpoint, converted as MindSpore's Tensor(value) converts Python
// values: integers -> Int64 0-d, floating -> Float32 0-d, bool -> Bool, strings -> "str"; tensors keep
// their dtype and shape. For another scalar dtype, pass TensorRecord::scalar<T>(name, v).
struct NamedValue {
    TensorRecord record;

    NamedValue(TensorRecord r) : record(std::move(r)) {}
    template <class T>
        requires std::is_arithmetic_v<T>
    NamedValue(std::string name, T value) {
        if constexpr (std::is_same_v<T, bool>) record = TensorRecord::scalar<bool>(std::move(name), value);
        else if constexpr (std::is_integral_v<T>)
            record = TensorRecord::scalar<std::int64_t>(std::move(name), static_cast<std::int64_t>(value));
        else record = TensorRecord::scalar<float>(std::move(name), static_cast<float>(value));
    }
    NamedValue(std::string name, std::string value) : record(TensorRecord::string(std::move(name), std::move(value))) {}
    NamedValue(std::string name, const char* value) : NamedValue(std::move(name), std::string(value)) {}
    template <ElementTensor T>
    NamedValue(std::string name, const T& tensor) : record(TensorRecord::from_tensor(std::move(name), tensor)) {}
};

// Records copied out of views (a file's records into owned tensors).
inline std::vector<TensorRecord> copy_records(std::span<const RecordView> views) {
    std::vector<TensorRecord> out;
    out.reserve(views.size());
    for (const auto& r : views) out.push_back(TensorRecord::from_view(r));
    return out;
}
// Only the records keep(name) accepts.
template <class Keep>
std::vector<TensorRecord> copy_records(std::span<const RecordView> views, Keep&& keep) {
    std::vector<TensorRecord> out;
    for (const auto& r : views)
        if (keep(r.name)) out.push_back(TensorRecord::from_view(r));
    return out;
}

}  // namespace mindsave
