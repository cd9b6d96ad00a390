// The body of the .ckpt fuzz target, shared by the libFuzzer driver (fuzz_ckpt.cpp, clang) and the
// corpus replay (replay_ckpt.cpp, the normal g++ build): parse hostile bytes, copy and touch every record,
// and check that the streaming read of small files gives parse's records or declines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/formats/ckpt.hpp"

namespace mindsave::fuzz {

// Written at the end so the compiler cannot drop the reads that touch every byte.
inline volatile std::uint64_t sink = 0;

// A broken promise of the parser is a bug even without a sanitizer report: say which, then abort.
inline void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz_ckpt: invariant broken: %s\n", what);
    std::abort();
}

inline std::uint64_t touch(std::span<const std::byte> bytes) {
    std::uint64_t h = bytes.size();
    for (const auto b : bytes) h = h * 31 + static_cast<std::uint8_t>(b);
    return h;
}

// What one parse yields, reduced to a digest so the crc_check=true and =false runs can be compared.
struct Digest {
    std::size_t records = 0;
    std::uint64_t hash = 0;
};

inline Digest parse_and_copy(std::span<const std::byte> bytes, bool crc_check) {
    const auto contents = format::ckpt::parse(bytes, "fuzz-input.ckpt", {.crc_check = crc_check});
    Digest d;
    std::vector<RecordView> views;
    for (const auto& v : contents.records()) {
        const auto r = TensorRecord::from_view(v);
        require(r.name == v.name, "a copied record has another name than its view");
        d.hash = d.hash * 131 + touch(std::as_bytes(std::span(r.name)));
        if (r.is_string()) {
            require(v.is_string && v.data.size() % 4 == 0, "a str record whose bytes are not UTF-32 characters");
            d.hash = d.hash * 131 + touch(std::as_bytes(std::span(*r.text)));
        } else {
            // parse promises that the bytes are exactly what dims x dtype need
            require(r.data.size() == r.element_count() * dtype_size(r.dtype), "record bytes disagree with its shape");
            for (const auto dim : r.shape) d.hash = d.hash * 131 + dim;
            d.hash = d.hash * 131 + touch(r.data);
        }
        views.push_back(v);
        ++d.records;
    }
    // The writer's size arithmetic must cope with whatever shapes a file may hold.
    d.hash = d.hash * 131 + format::ckpt::serialized_size(views);
    return d;
}

// The copying read of small files (formats/ckpt_records.hpp) goes through the same record decoder as parse,
// over a window that moves through the file: at any window size (small ones make headers and tensors cross
// its end) it must give exactly parse's records, or exactly parse's error.
inline void check_windowed_read(std::span<const std::byte> bytes, bool crc_check) {
    std::optional<std::vector<TensorRecord>> reference;
    std::string reference_error;
    try {
        reference = copy_records(format::ckpt::parse(bytes, "fuzz-input.ckpt", {.crc_check = crc_check}).records());
    } catch (const Error& e) {
        reference_error = e.what();
    }
    for (const std::size_t window : {std::size_t{17}, std::size_t{64}, std::size_t{4096}}) {
        try {
            const auto records = format::detail::read_ckpt(format::detail::MemorySource{bytes}, bytes.size(),
                                                           "fuzz-input.ckpt", crc_check, window);
            require(reference.has_value(), "the windowed read accepts a file parse rejects");
            require(records == *reference, "the windowed read and parse disagree");
        } catch (const Error& e) {
            require(!reference.has_value(), "the windowed read rejects a file parse accepts");
            require(e.what() == reference_error, "the windowed read and parse give different errors");
        }
    }
}

// Any mindsave::Error is a fine answer to bad bytes; a crash, a sanitizer report or another
// exception (which escapes from here) is a bug.
inline void fuzz_one(std::span<const std::byte> bytes) {
    std::optional<Digest> plain, checked;
    try {
        plain = parse_and_copy(bytes, false);
    } catch (const Error&) {
    }
    try {
        checked = parse_and_copy(bytes, true);
    } catch (const Error&) {
    }
    check_windowed_read(bytes, false);
    check_windowed_read(bytes, true);
    // crc_check only adds a test before parsing: whatever passes it must parse the same without it.
    if (checked) {
        require(plain.has_value(), "parses with crc_check but not without");
        require(plain->records == checked->records && plain->hash == checked->hash,
                "crc_check changes what is parsed");
    }
    if (plain) sink = sink + plain->hash + plain->records;
}

}  // namespace mindsave::fuzz
