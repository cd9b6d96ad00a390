// format::ckpt reading: MindSpore's .ckpt, a stream of one-value Checkpoint messages (spec section 1).
// Records with the same consecutive tag are pieces of one split tensor and are joined.
#pragma once

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/io/protobuf_wire.hpp"

namespace mindsave::format {

struct ckpt {
    static constexpr const char* extension = ".ckpt";

    // Every tensor record of the file, in file order. Throws FormatError naming the file and the
    // byte offset on any framing problem, and on tensor types MindSpore itself cannot load.
    static std::vector<TensorRecord> read(const std::filesystem::path& path) {
        std::vector<std::byte> file = read_bytes(path);
        std::span<const std::byte> body(file);
        // The optional CRC footer: "crc_num" + 10-byte big-endian CRC-32 (MindSpore >= 2.3).
        if (body.size() >= 17 && std::memcmp(body.data() + body.size() - 17, "crc_num", 7) == 0)
            body = body.first(body.size() - 17);
        std::vector<TensorRecord> out;
        std::string last_tag;
        try {
            io::WireReader file_reader(body);
            while (!file_reader.at_end()) {
                io::WireType type;
                if (file_reader.key(type) != 1 || type != io::WireType::length_delimited)
                    file_reader.fail("expected Checkpoint.value (field 1)");
                const auto value = file_reader.bytes();
                TensorRecord r = parse_value(value, file_reader.offset() - value.size(), path);
                if (!out.empty() && r.name == last_tag) {  // a further piece of a split tensor
                    auto& joined = out.back();
                    joined.data.insert(joined.data.end(), r.data.begin(), r.data.end());
                    joined.shape = r.shape;
                    joined.dtype = r.dtype;
                } else {
                    last_tag = r.name;
                    out.push_back(std::move(r));
                }
            }
        } catch (const io::WireError& e) {
            throw FormatError(path, "not a valid MindSpore checkpoint: " + e.what + " at byte " +
                                        std::to_string(e.offset) + " (the file is truncated or corrupt)");
        }
        for (auto& r : out) finish(r, path);
        return out;
    }

private:
    static std::vector<std::byte> read_bytes(const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary | std::ios::ate);
        if (!in) throw FileError(path, std::string("cannot open for reading: ") + std::strerror(errno));
        const auto size = static_cast<std::size_t>(in.tellg());
        std::vector<std::byte> bytes(size);
        in.seekg(0);
        if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
            throw FileError(path, "read failed");
        return bytes;
    }

    static TensorRecord parse_value(std::span<const std::byte> value, std::size_t base,
                                    const std::filesystem::path& path) {
        TensorRecord r;
        bool has_tag = false, has_tensor = false;
        io::WireReader v(value, base);
        while (!v.at_end()) {
            io::WireType type;
            const auto field = v.key(type);
            if (field == 1 && type == io::WireType::length_delimited) {
                r.name = std::string(v.string());
                has_tag = true;
            } else if (field == 2 && type == io::WireType::length_delimited) {
                const auto tensor = v.bytes();
                parse_tensor(tensor, v.offset() - tensor.size(), r, path);
                has_tensor = true;
            } else if (field == 3 && type == io::WireType::length_delimited) {
                v.fail("map-parameter records (MapTensorProto) are not supported");
            } else {
                v.skip(type);
            }
        }
        if (!has_tag || !has_tensor) v.fail("a Checkpoint.Value without its required tag or tensor");
        return r;
    }

    static void parse_tensor(std::span<const std::byte> tensor, std::size_t base, TensorRecord& r,
                             const std::filesystem::path& path) {
        io::WireReader t(tensor, base);
        bool has_type = false, has_content = false;
        while (!t.at_end()) {
            io::WireType type;
            const auto field = t.key(type);
            if (field == 1 && type == io::WireType::varint) {
                r.shape.push_back(static_cast<std::size_t>(t.varint()));
            } else if (field == 1 && type == io::WireType::length_delimited) {  // packed dims, tolerated
                io::WireReader packed(t.bytes());
                while (!packed.at_end()) r.shape.push_back(static_cast<std::size_t>(packed.varint()));
            } else if (field == 2 && type == io::WireType::length_delimited) {
                const auto name = t.string();
                const auto dtype = parse_dtype(name);
                if (!dtype)
                    throw FormatError(path, "tensor '" + r.name + "' has tensor_type '" + std::string(name) +
                                                "', which is not a MindSpore dtype this reader supports");
                r.dtype = *dtype;
                has_type = true;
            } else if (field == 3 && type == io::WireType::length_delimited) {
                const auto content = t.bytes();
                r.data.assign(content.begin(), content.end());
                has_content = true;
            } else {
                t.skip(type);
            }
        }
        if (!has_type || !has_content)
            t.fail("tensor '" + r.name + "' lacks its required tensor_type or tensor_content");
    }

    // dims [0] is the <= 2.2 spelling of a scalar; then the byte count must fit the shape.
    static void finish(TensorRecord& r, const std::filesystem::path& path) {
        if (r.shape.size() == 1 && r.shape[0] == 0 && r.data.size() == dtype_size(r.dtype)) r.shape.clear();
        std::size_t count = 1;
        for (auto d : r.shape) {
            if (d != 0 && count > SIZE_MAX / d)
                throw FormatError(path, "tensor '" + r.name + "' has dims whose product overflows");
            count *= d;
        }
        if (count > SIZE_MAX / dtype_size(r.dtype) || count * dtype_size(r.dtype) != r.data.size())
            throw FormatError(path, "tensor '" + r.name + "' has shape " + shape_string(r.shape) + " of " +
                                        std::string(dtype_name(r.dtype)) + " (" +
                                        std::to_string(count * dtype_size(r.dtype)) + " bytes) but " +
                                        std::to_string(r.data.size()) + " bytes of content");
    }
};

}  // namespace mindsave::format
