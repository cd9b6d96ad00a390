// Must not compile (tests/CMakeLists.txt checks the error): the torchvision map without its rule for
// the downsample BatchNorm's running_var leaves four mindvision moving_variance tensors without a value.
#include <algorithm>
#include <array>

#include "mindsave/models/torchvision.hpp"

namespace mindsave::torchvision {

constexpr auto without_one_rule = [] {
    std::array<NameRule, std::size(resnet50_to_mindvision) - 1> rules{};
    std::copy_if(std::begin(resnet50_to_mindvision), std::end(resnet50_to_mindvision), rules.begin(),
                 [](const NameRule& r) { return r.from != "layer*.downsample.1.running_var"; });
    return rules;
}();

static_assert(name_map_problems(resnet50_schema(1000), without_one_rule, parameter_schema<ResNet50<1000>>()).empty(),
              "a map must turn torchvision's ResNet50 into exactly ResNet50<1000>");

}  // namespace mindsave::torchvision
