// A checkpoint format written from scratch, as a user would, against the public contract only
// (formats/concepts.hpp): one text line per record. Proves the concepts are enough to save, load and train.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/dtype.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"

namespace mindsave::testing {

// "name<TAB>dtype<TAB>d0,d1,...<TAB>hex bytes"; a string record has dtype "str" and its UTF-8 bytes.
struct tsv {
    static constexpr std::string_view extension = ".tsv";
    struct WriteOptions {};
    struct ReadOptions {};

    static void write(const std::filesystem::path& path, std::span<const RecordView> records, const WriteOptions& = {}) {
        const std::filesystem::path partial = path.string() + ".partial";
        {
            std::ofstream out(partial, std::ios::binary | std::ios::trunc);
            for (const auto& r : records) {
                out << r.name << '\t' << (r.is_string ? std::string("str") : std::string(dtype_name(r.dtype))) << '\t';
                for (std::size_t i = 0; i < r.shape.size(); ++i) out << (i ? "," : "") << r.shape[i];
                out << '\t';
                const std::string text = r.is_string ? detail::utf32le_to_utf8(r.data) : std::string();
                const auto bytes = r.is_string ? std::as_bytes(std::span(text.data(), text.size())) : r.data;
                for (const std::byte b : bytes) out << "0123456789abcdef"[std::to_integer<int>(b) >> 4]
                                                    << "0123456789abcdef"[std::to_integer<int>(b) & 15];
                out << '\n';
            }
            if (!out.flush()) throw FileError(path, "cannot write");
        }
        std::filesystem::rename(partial, path);  // whole or not at all
    }

    static std::vector<TensorRecord> read(const std::filesystem::path& path, const ReadOptions& = {}) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw FileError(path, "cannot open");
        std::vector<TensorRecord> out;
        std::string line;
        while (std::getline(in, line)) {
            std::vector<std::string> f;
            std::stringstream fields(line);
            for (std::string s; std::getline(fields, s, '\t');) f.push_back(s);
            if (line.ends_with('\t')) f.emplace_back();
            if (f.size() != 4 || f[3].size() % 2) throw FormatError(path, "not a tsv record: " + line.substr(0, 40));
            TensorRecord r;
            r.name = f[0];
            std::vector<std::byte> bytes;
            for (std::size_t i = 0; i < f[3].size(); i += 2)
                bytes.push_back(static_cast<std::byte>(std::stoi(f[3].substr(i, 2), nullptr, 16)));
            if (f[1] == "str") {
                r.text = std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
            } else {
                const auto dtype = parse_dtype(f[1]);
                if (!dtype) throw FormatError(path, "unknown dtype " + f[1]);
                r.dtype = *dtype;
                std::stringstream dims(f[2]);
                for (std::string d; std::getline(dims, d, ',');) r.shape.push_back(std::stoull(d));
                if (bytes.size() != r.element_count() * dtype_size(r.dtype))
                    throw FormatError(path, r.name + ": bytes do not match the shape");
                r.data.assign(bytes.begin(), bytes.end());
            }
            out.push_back(std::move(r));
        }
        return out;
    }
};

}  // namespace mindsave::testing
