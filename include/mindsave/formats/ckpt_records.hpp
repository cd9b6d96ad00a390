// The one decoder of .ckpt records (docs/formats.md section 1): a record's header decoded to where its tensor
// bytes lie, from bytes at hand that may stop short (a window over a file: ckpt_file_reader.hpp) or be the
// whole file (ckpt::parse). Also the rules every read applies: scalars, sizes, split tensors, errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "mindsave/core/byte_count.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/formats/ckpt_fields.hpp"
#include "mindsave/io/cipher.hpp"
#include "mindsave/io/protobuf_wire.hpp"

namespace mindsave::format::detail {

// One record as its header places it in the file.
struct CkptRecordHeader {
    std::string_view name;  // in the bytes decoded
    DType dtype = DType::Float32;
    bool is_string = false;
    Shape shape;
    std::size_t content = 0, length = 0;  // tensor_content: file offset and size
    std::size_t end = 0;                  // the file offset after the record
};

// The offset where a length-delimited payload at r ends, checked against its message's end.
inline std::size_t ckpt_payload_end(io::WireReader& r, std::size_t limit) {
    const std::uint64_t n = r.varint();
    if (r.offset() > limit || n > limit - r.offset())
        r.fail("length " + std::to_string(n) + " runs past the end (" +
               std::to_string(limit > r.offset() ? limit - r.offset() : 0) + " bytes left)");
    return r.offset() + static_cast<std::size_t>(n);
}

// A field read from r must end inside its message.
inline void ckpt_within(const io::WireReader& r, std::size_t limit) {
    if (r.offset() > limit) r.fail("a field runs past the end of its message");
}

// Decodes the TensorProto ending at tensor_end into h. Returns false when tensor_content is the last field
// of the record and its bytes lie beyond r (a window over a file): the header is complete all the same.
inline bool ckpt_decode_tensor(io::WireReader& r, std::size_t tensor_end, std::size_t record_end, CkptRecordHeader& h) {
    using proto::ckpt::TensorProto;
    constexpr auto ld = io::WireType::length_delimited;
    bool has_type = false, has_content = false;
    while (r.offset() < tensor_end) {
        const auto key = r.key();
        if (key.is(TensorProto::dims) && (key.type == io::WireType::varint || key.type == ld)) {
            if (h.shape.capacity() == 0) h.shape.reserve(8);  // one allocation for a usual rank, not one per growth
            io::read_dims(r, key.type, h.shape);  // packed dims are tolerated
        } else if (key.is(TensorProto::tensor_type, ld)) {
            const auto name = r.string();
            if (name == "str") {
                h.is_string = true;
            } else if (const auto dtype = parse_dtype(name)) {
                h.dtype = *dtype;
            } else {
                r.fail("unknown tensor_type '" + std::string(name.substr(0, 64)) +
                       "' (MindSpore's loader rejects it too; known: Bool, Int8..Int64, UInt8..UInt64, "
                       "Float16/32/64, BFloat16, str)");
            }
            has_type = true;
        } else if (key.is(TensorProto::tensor_content, ld)) {
            const auto end = ckpt_payload_end(r, tensor_end);
            h.content = r.offset();
            h.length = end - h.content;
            has_content = true;
            if (r.remaining() < h.length) {
                if (end != record_end) r.fail("tensor_content runs past the bytes at hand");  // the caller widens them
                if (!has_type) r.fail("a TensorProto without its required tensor_type or tensor_content");
                return false;
            }
            r.skip_bytes(h.length);
        } else {
            r.skip(key.type);
        }
        ckpt_within(r, tensor_end);
    }
    if (!has_type || !has_content) r.fail("a TensorProto without its required tensor_type or tensor_content");
    return true;
}

// Decodes the record at r into h. r's bytes may stop before the record ends (a window over a file) as long as
// they hold every field but the last tensor_content's bytes; when they do not, this throws like damage would,
// and the caller tries again with more bytes. records_end is where the records end (the CRC footer's start).
inline void ckpt_decode_record(io::WireReader& r, std::size_t records_end, CkptRecordHeader& h) {
    using namespace proto::ckpt;
    constexpr auto ld = io::WireType::length_delimited;
    if (!r.key().is(Checkpoint::value, ld)) r.fail("expected Checkpoint.value (field 1)");
    h.end = ckpt_payload_end(r, records_end);
    bool has_tag = false, has_tensor = false;
    while (r.offset() < h.end) {
        const auto key = r.key();
        if (key.is(CheckpointValue::tag, ld)) {
            h.name = r.string();
            has_tag = true;
        } else if (key.is(CheckpointValue::tensor, ld)) {
            const auto tensor_end = ckpt_payload_end(r, h.end);
            has_tensor = true;
            if (!ckpt_decode_tensor(r, tensor_end, h.end, h)) {
                if (!has_tag) r.fail("a Checkpoint.Value without its required tag or tensor");
                return;
            }
        } else if (key.is(CheckpointValue::maptensor, ld)) {
            r.fail("map-parameter records (MapTensorProto, embedding caches) are not supported");
        } else {
            r.skip(key.type);
        }
        ckpt_within(r, h.end);
    }
    if (!has_tag || !has_tensor) r.fail("a Checkpoint.Value without its required tag or tensor");
}

// dims [0] is the <= 2.2 spelling of a scalar (and of a str record).
inline void ckpt_finish(CkptRecordHeader& h) {
    if (h.is_string) h.shape.clear();
    else if (h.shape.size() == 1 && h.shape[0] == 0 && h.length == dtype_size(h.dtype)) h.shape.clear();
}

// A record's bytes must be what its shape and dtype need (a str record: whole UTF-32 characters).
inline void ckpt_check_size(std::string_view name, bool is_string, DType dtype, const Shape& shape, std::size_t bytes,
                            std::size_t index, const std::filesystem::path& path) {
    if (is_string) {
        if (bytes % 4 != 0)
            throw FormatError(path, "record " + std::to_string(index) + " ('" + std::string(name) + "'): a str value of " +
                                        std::to_string(bytes) + " bytes, not whole UTF-32 characters");
        return;
    }
    const auto need = checked_byte_count(shape, dtype_size(dtype));
    if (!need || *need != bytes)
        throw FormatError(path, "record " + std::to_string(index) + " ('" + std::string(name) + "'): shape " +
                                    shape_string(shape) + " of " + std::string(dtype_name(dtype)) +
                                    (!need ? " overflows" : " needs " + std::to_string(*need) + " bytes") +
                                    ", but the record holds " + std::to_string(bytes) + " bytes");
}
inline void ckpt_check_size(const RecordView& r, std::size_t index, const std::filesystem::path& path) {
    ckpt_check_size(r.name, r.is_string, r.dtype, r.shape, r.data.size(), index, path);
}

// Whether h continues the record before it, named prev_name (MindSpore splits a large tensor into records
// of one name); their types must agree.
inline bool ckpt_continues(std::string_view prev_name, bool prev_is_string, DType prev_dtype, const CkptRecordHeader& h,
                           const std::filesystem::path& path) {
    if (prev_name != h.name) return false;
    if (prev_is_string != h.is_string || (!h.is_string && prev_dtype != h.dtype))
        throw FormatError(path, "pieces of tensor '" + std::string(h.name) + "' disagree on type");
    return true;
}

inline FormatError ckpt_crc_error(const std::filesystem::path& path) {
    return FormatError(path, "CRC-32 check failed: the stored checksum does not match the records "
                             "(the file is damaged or was changed after saving)");
}

// The tag of a record whose length runs past the end (a cut file), if its start is intact: for messages.
inline std::string_view ckpt_peek_tag(io::WireReader r) noexcept {
    try {
        if (!r.key().is(proto::ckpt::Checkpoint::value, io::WireType::length_delimited)) return {};
        r.varint();  // the record's (too long) length
        if (r.key().is(proto::ckpt::CheckpointValue::tag, io::WireType::length_delimited)) return r.string();
    } catch (const io::WireError&) {
    }
    return {};
}

inline FormatError ckpt_record_error(const std::filesystem::path& path, std::size_t index, std::string_view name,
                                     const io::WireError& e) {
    return FormatError(path, "not a valid MindSpore checkpoint: record " + std::to_string(index) +
                                 (name.empty() ? "" : " ('" + std::string(name) + "')") + ": " + e.what + " at byte " +
                                 std::to_string(e.offset) + " (the file is truncated or corrupt)");
}

// Decodes the record at pos from window.at(pos) (the bytes from pos that are at hand); when they stop too
// soon, window.widen(pos) brings more, and once it cannot, the error is the file's.
template <class Window>
CkptRecordHeader ckpt_next_record(Window& window, std::size_t pos, std::size_t records_end, std::size_t index,
                                  const std::filesystem::path& path) {
    for (;;) {
        const auto bytes = window.at(pos);
        io::WireReader r(bytes, pos);
        CkptRecordHeader h;
        try {
            ckpt_decode_record(r, records_end, h);
            ckpt_finish(h);
            return h;
        } catch (const io::WireError& e) {
            if (pos == 0)  // MindSpore's cipher blocks, given without their key
                if (const auto mode = mindsave::detail::cipher_magic(bytes)) mindsave::detail::throw_encrypted(path, *mode, "checkpoint");
            if (window.widen(pos)) continue;
            throw ckpt_record_error(path, index, h.name.empty() ? ckpt_peek_tag(io::WireReader(bytes, pos)) : h.name, e);
        }
    }
}

// The whole file in memory: every byte is at hand.
struct CkptMemoryWindow {
    std::span<const std::byte> records;  // the file without its CRC footer
    std::span<const std::byte> at(std::size_t pos) const noexcept { return records.subspan(pos); }
    static bool widen(std::size_t) noexcept { return false; }
};

}  // namespace mindsave::format::detail
