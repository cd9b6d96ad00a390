// load_checkpoint as MindSpore's: any file load_checkpoint reads (.ckpt, safetensors, .pth, MindIR, ONNX),
// told apart by content, into an ordered, editable dict (now or async), or straight into a network.
#pragma once

#include <filesystem>
#include <future>

#include "mindsave/checkpoint/load_format.hpp"
#include "mindsave/checkpoint/load_param.hpp"
#include "mindsave/checkpoint/match.hpp"
#include "mindsave/core/concepts.hpp"
#include "mindsave/core/parameter_dict.hpp"
#include "mindsave/formats/any.hpp"
#include "mindsave/formats/concepts.hpp"

namespace mindsave {

// The same templates as load_format.hpp's, redeclared to add format::any as the default format
// (a redeclaration may add default template arguments; load_format.hpp's stay as they are).
template <ReadableFormat Format = format::any>
ParameterDict load_checkpoint(const std::filesystem::path& path, const LoadOptions& options);
template <MatchPolicy Match, ReadableFormat Format = format::any, HasParameters Net>
ParameterDict load_checkpoint(const std::filesystem::path& path, Net& net, const LoadOptions& options);
template <MatchPolicy Match, ReadableFormat Format = format::any, HasParameters Net>
LoadResult load_param_into_net(Net& net, const std::filesystem::path& path, const LoadOptions& options);
template <ReadableFormat Format = format::any>
std::future<ParameterDict> load_checkpoint_async(std::filesystem::path path, LoadOptions options);

}  // namespace mindsave
