// libFuzzer entry point for the .ckpt reader; built by run_fuzz.cmake with clang++ and
// -fsanitize=fuzzer,address,undefined. The work itself is in ckpt_fuzz_body.hpp.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ckpt_fuzz_body.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    mindsave::fuzz::fuzz_one(std::as_bytes(std::span(data, size)));
    return 0;
}
