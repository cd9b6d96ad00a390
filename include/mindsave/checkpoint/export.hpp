// export_model: MindSpore's export(net, *inputs, file_name, file_format) for mindsave networks: the
// network type is traced into an OpGraph and written as MindIR (with a dataset's preprocessing), ONNX (or refused as AIR).
#pragma once

#include <filesystem>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mindsave/core/cell_name.hpp"
#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/op_graph.hpp"
#include "mindsave/core/record_views.hpp"
#include "mindsave/core/tensor.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/preprocess.hpp"
#include "mindsave/formats/air.hpp"
#include "mindsave/formats/concepts.hpp"
#include "mindsave/formats/mindir.hpp"
#include "mindsave/formats/onnx.hpp"
#include "mindsave/graph/rules.hpp"
#include "mindsave/graph/trace.hpp"

namespace mindsave {

// The inference graph of net for the given input shapes, as export_model writes it.
template <class Net>
OpGraph export_graph(Net& net, std::span<const Shape> input_shapes) {
    if (input_shapes.empty()) throw ShapeError("export: give at least one input shape (or example input)");
    return graph::trace(net, input_shapes, std::string(cell_name<Net>));
}

// Writes net as Format to file_name (the extension is added when missing). Returns the files
// written: one, or the graph and its external data when the weights are past the threshold.
template <ModelFormat Format, HasParameters Net>
std::vector<std::filesystem::path> export_model(Net& net, std::span<const Shape> input_shapes,
                                                const std::filesystem::path& file_name,
                                                const typename Format::WriteOptions& options = {}) {
    const OpGraph g = export_graph(net, input_shapes);
    RecordViews weights;
    weights.add_parameters(net);
    return Format::write(file_name, g, weights.views(), options);
}
template <ModelFormat Format, HasParameters Net>
std::vector<std::filesystem::path> export_model(Net& net, std::initializer_list<Shape> input_shapes,
                                                const std::filesystem::path& file_name,
                                                const typename Format::WriteOptions& options = {}) {
    return export_model<Format>(net, std::span<const Shape>(input_shapes.begin(), input_shapes.size()), file_name, options);
}
template <ModelFormat Format, HasParameters Net>
std::vector<std::filesystem::path> export_model(Net& net, const Shape& input_shape, const std::filesystem::path& file_name,
                                                const typename Format::WriteOptions& options = {}) {
    return export_model<Format>(net, std::span<const Shape>(&input_shape, 1), file_name, options);
}
// An example input, as MindSpore's export takes one: only its shape matters.
template <ModelFormat Format, HasParameters Net>
std::vector<std::filesystem::path> export_model(Net& net, const Tensor& example, const std::filesystem::path& file_name,
                                                const typename Format::WriteOptions& options = {}) {
    const Shape shape(example.shape().begin(), example.shape().end());
    return export_model<Format>(net, shape, file_name, options);
}

// MindSpore's export(net, dataset, file_name, file_format): the graph input is shaped by the dataset's
// first batch (its "image" column, [N, C, H, W]), and a MindIR also stores the dataset's map stages as
// its preprocessor (ModelProto field 9), source first, each field as the JSON MindSpore writes. Reads
// one batch from a copy of dataset; the caller's dataset is not moved.
template <ModelFormat Format, HasParameters Net, class... Ts>
std::vector<std::filesystem::path> export_model(Net& net, const data::BatchDataset<Ts...>& dataset,
                                                const std::filesystem::path& file_name,
                                                typename Format::WriteOptions options = {}) {
    data::BatchDataset<Ts...> d = dataset;
    Batch first;
    d.reset(0);
    if (!d.next(first))
        throw ConfigError("export: the dataset gives no batch to shape the graph input (is it empty, or is "
                          "drop_remainder dropping its only batch?)");
    const Shape shape(first.images.shape().begin(), first.images.shape().end());
    if constexpr (std::is_same_v<Format, format::mindir>) {
        for (const auto& stage : dataset.preprocess_stages())
            options.preprocessor.push_back({data::detail::json_string_list(stage.input_columns),
                                            data::detail::json_string_list(stage.output_columns), "\"Map\"",
                                            data::operations_json(stage.operations), stage.offload});
    }
    return export_model<Format>(net, shape, file_name, options);
}

// The format named at run time, as MindSpore's file_format argument ("MINDIR", "ONNX", "AIR").
template <HasParameters Net>
std::vector<std::filesystem::path> export_model(Net& net, const Shape& input_shape, const std::filesystem::path& file_name,
                                                std::string_view file_format) {
    if (file_format == "MINDIR") return export_model<format::mindir>(net, input_shape, file_name);
    if (file_format == "ONNX") return export_model<format::onnx>(net, input_shape, file_name);
    if (file_format == "AIR") return export_model<format::air>(net, input_shape, file_name);
    throw ConfigError("For 'export', 'file_format' must be one of ['AIR', 'ONNX', 'MINDIR'], but got " +
                      std::string(file_format) + ".");
}

}  // namespace mindsave
