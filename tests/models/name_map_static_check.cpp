// The compiled-in name maps are complete, checked while compiling (this file has no run-time part):
// every torchvision tensor lands on exactly one mindvision parameter of the same shape, or is dropped.
#include "mindsave/models/torchvision.hpp"

namespace mindsave::torchvision {

static_assert(name_map_problems(resnet50_schema(1000), resnet50_to_mindvision, parameter_schema<ResNet50<1000>>()).empty(),
              "torchvision::resnet50_to_mindvision must turn torchvision's ResNet50 into exactly ResNet50<1000>: "
              "name_map_problems(...) at run time lists what is missing");
static_assert(name_map_problems(resnet50_schema(2), resnet50_to_mindvision, parameter_schema<ResNet50<2>>()).empty(),
              "torchvision::resnet50_to_mindvision must turn torchvision's ResNet50 into exactly ResNet50<2>");

}  // namespace mindsave::torchvision
