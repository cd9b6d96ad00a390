// A protobuf message assembled as byte pieces: small fields are copied, tensor bytes are borrowed,
// so a model (MindIR, ONNX, graph.meta) streams to its file straight from tensor memory via writev.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/endian.hpp"
#include "mindsave/io/protobuf_wire.hpp"

namespace mindsave::io {

class ProtoBuilder {
public:
    ProtoBuilder& varint(Field field, std::uint64_t v) {
        key(field, WireType::varint);
        put_varint_owned(v);
        return *this;
    }
    // int64/int32/enum fields: negative values take ten bytes, as protobuf encodes them.
    ProtoBuilder& int64(Field field, std::int64_t v) { return varint(field, static_cast<std::uint64_t>(v)); }
    ProtoBuilder& boolean(Field field, bool v) { return varint(field, v ? 1 : 0); }
    ProtoBuilder& float32(Field field, float v) {
        key(field, WireType::fixed32);
        const auto bits = std::bit_cast<std::uint32_t>(v);
        append_le(owned_, bits, 4);
        extend_owned();
        return *this;
    }
    ProtoBuilder& string(Field field, std::string_view s) {
        key(field, WireType::length_delimited);
        put_varint_owned(s.size());
        owned_.append(s);
        extend_owned();
        return *this;
    }
    // Bytes that stay where they are (tensor memory) until the message is written.
    ProtoBuilder& borrowed(Field field, std::span<const std::byte> b) {
        key(field, WireType::length_delimited);
        put_varint_owned(b.size());
        push_borrowed(b);
        return *this;
    }
    ProtoBuilder& message(Field field, const ProtoBuilder& m) {
        key(field, WireType::length_delimited);
        put_varint_owned(m.size());
        const std::size_t base = owned_.size();
        owned_.append(m.owned_);
        for (const auto& p : m.pieces_) {
            if (!p.borrowed.empty()) push_borrowed(p.borrowed);
            else append_owned_piece(base + p.offset, p.size);
        }
        return *this;
    }
    ProtoBuilder& packed_int64(Field field, std::span<const std::int64_t> values) {
        std::size_t n = 0;
        for (auto v : values) n += varint_size(static_cast<std::uint64_t>(v));
        key(field, WireType::length_delimited);
        put_varint_owned(n);
        for (auto v : values) put_varint_owned(static_cast<std::uint64_t>(v));
        return *this;
    }

    std::size_t size() const noexcept { return size_; }

    // The message as pieces for writev; valid while this builder and the borrowed memory live.
    std::vector<std::span<const std::byte>> pieces() const {
        std::vector<std::span<const std::byte>> out;
        out.reserve(pieces_.size());
        const auto* base = reinterpret_cast<const std::byte*>(owned_.data());
        for (const auto& p : pieces_) out.push_back(p.borrowed.empty() ? std::span(base + p.offset, p.size) : p.borrowed);
        return out;
    }
    // The message flattened into one string (copies borrowed bytes).
    std::string str() const {
        std::string s;
        s.reserve(size_);
        for (auto p : pieces()) s.append(reinterpret_cast<const char*>(p.data()), p.size());
        return s;
    }

private:
    struct Piece {
        std::span<const std::byte> borrowed;  // empty: the piece is owned_[offset, offset + size)
        std::size_t offset = 0, size = 0;
    };

    void key(Field field, WireType type) { put_varint_owned(field_key(field, type)); }
    void put_varint_owned(std::uint64_t v) {
        std::byte buf[10];
        const auto n = static_cast<std::size_t>(put_varint(buf, v) - buf);
        owned_.append(reinterpret_cast<const char*>(buf), n);
        extend_owned();
    }
    // Bytes just appended to owned_ become a piece, or grow the last one when it is owned and adjacent.
    void extend_owned() { append_owned_piece(owned_covered_, owned_.size() - owned_covered_); }
    void push_borrowed(std::span<const std::byte> b) {
        if (b.empty()) return;
        pieces_.push_back({b, 0, b.size()});
        size_ += b.size();
    }
    void append_owned_piece(std::size_t offset, std::size_t n) {
        if (n == 0) return;
        size_ += n;
        if (!pieces_.empty() && pieces_.back().borrowed.empty() && pieces_.back().offset + pieces_.back().size == offset)
            pieces_.back().size += n;
        else
            pieces_.push_back({{}, offset, n});
        owned_covered_ = offset + n;
    }

    std::string owned_;
    std::vector<Piece> pieces_;
    std::size_t size_ = 0;           // total bytes, owned and borrowed
    std::size_t owned_covered_ = 0;  // owned_ bytes already in pieces_
};

}  // namespace mindsave::io
