// format::air: Ascend's AIR (GE IR) has its place among the export formats, but only Ascend's GE
// backend can produce it (docs/formats.md section 7): exporting raises MindSpore's error and points elsewhere.
#pragma once

#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/op_graph.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/formats/concepts.hpp"

namespace mindsave::format {

struct AirWriteOptions {};

struct air {
    static constexpr std::string_view extension = ".air";
    using WriteOptions = AirWriteOptions;

    [[noreturn]] static std::vector<std::filesystem::path> write(const std::filesystem::path& path, const OpGraph&,
                                                                 std::span<const RecordView>, const WriteOptions& = {}) {
        throw ConfigError("Only support export file in 'AIR' format with Ascend backend. (" + path.string() +
                          ": AIR is produced by Ascend's graph engine, which this build does not have; export "
                          "with format::mindir or format::onnx instead, and convert on an Ascend machine if "
                          "AIR is needed)");
    }
};

static_assert(ModelFormat<air>);

}  // namespace mindsave::format
