// nn/cell.hpp and core/parameter_list.hpp: MindSpore's parameter lists (get_parameters, trainable_params,
// parameters_and_names) with global dotted names on any sub-network, and MindSpore's Parameter printout.
#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/mindsave.hpp"

using namespace mindsave;

namespace {

std::vector<std::string> names_of(const std::vector<ParameterRef>& ps) {
    std::vector<std::string> out;
    for (const auto& p : ps) out.push_back(p.name);
    return out;
}
template <class T>
std::string printed(const T& v) {
    std::ostringstream os;
    os << v;
    return os.str();
}
// The names visiting hands to checkpoints: the reference every list is checked against.
template <class Net>
std::vector<std::string> visited_names(Net& net) {
    std::vector<std::string> out;
    visit_parameters(net, [&](std::string_view name, auto&) { out.emplace_back(name); });
    return out;
}

}  // namespace

TEST_CASE("LeNet5's parameter lists name and print each Parameter as MindSpore does", "[cell][parameters]") {
    LeNet5<> net;
    const auto all = net.get_parameters();
    CHECK(names_of(all) == visited_names(net));
    CHECK(names_of(net.trainable_params()) == names_of(all));  // LeNet5 has no statistics
    CHECK(net.untrainable_params().empty());
    CHECK(printed(all.front()) == "Parameter (name=conv1.weight, shape=(6, 1, 5, 5), dtype=Float32, requires_grad=True)");
    CHECK(printed(all.at(3)) == "Parameter (name=fc1.bias, shape=(120,), dtype=Float32, requires_grad=True)");
    // a reference to the parameter's own memory
    CHECK(all.front().value().bytes.data() == reinterpret_cast<std::byte*>(net.get<"conv1">().weight().value.data()));

    // a child's lists keep the global names; parameters_and_names gives the path inside the child
    auto& fc1 = net.get<"fc1">();
    CHECK(fc1.param_prefix() == "fc1");
    CHECK(names_of(fc1.get_parameters()) == std::vector<std::string>{"fc1.weight", "fc1.bias"});
    const auto pn = fc1.parameters_and_names();
    REQUIRE(pn.size() == 2);
    CHECK(pn[0].first == "weight");
    CHECK(pn[0].second.name == "fc1.weight");
    CHECK(fc1.parameters_and_names("fc1")[1].first == "fc1.bias");
    CHECK(parameters_and_names(net)[4].first == "fc2.weight");

    // a copied network, and a network assigned a new value, name its parameters alike
    LeNet5<> copy = net;
    copy = LeNet5<>(5);
    CHECK(names_of(copy.get<"fc3">().get_parameters()) == std::vector<std::string>{"fc3.weight", "fc3.bias"});

    // a child exports on its own, as MindSpore exports net.fc3
    const auto graph = export_graph(net.get<"fc3">(), std::vector<Shape>{{1, 84}});
    CHECK(graph.parameters.size() == 2);
}

TEST_CASE("a child given a new value keeps its place in the network", "[cell][parameters][resnet]") {
    auto net = std::make_unique<ResNet50<2>>(uninitialized);
    net->get<"head">() = resnet::DenseHead<2>(7);  // assigning the child's own type
    CHECK(names_of(net->get<"head">().get_parameters()) == std::vector<std::string>{"head.dense.weight", "head.dense.bias"});
    auto& stage = net->get<"backbone">().get<"layer3">();
    resnet::Stage<512, 256, 6, 2>& plain = stage;  // through a plain reference to the layer, too
    plain = resnet::Stage<512, 256, 6, 2>(uninitialized);
    CHECK(names_of(stage.get_parameters()).front() == "backbone.layer3.0.conv1.features.0.weight");
    CHECK(names_of(net->get_parameters()) == visited_names(*net));
}

TEST_CASE("ResNet50's sub-networks list their parameters under global names, as resnet.head.get_parameters() "
          "does in seed 003",
          "[cell][parameters][resnet]") {
    auto net = std::make_unique<ResNet50<2>>(uninitialized);
    CHECK(names_of(net->get<"head">().get_parameters()) ==
          std::vector<std::string>{"head.dense.weight", "head.dense.bias"});
    CHECK(printed(net->get<"head">().get_parameters()[0]) ==
          "Parameter (name=head.dense.weight, shape=(2, 2048), dtype=Float32, requires_grad=True)");

    const auto all = net->get_parameters();
    CHECK(all.size() == 267);
    CHECK(net->trainable_params().size() == 161);
    CHECK(net->untrainable_params().size() == 106);
    CHECK(names_of(all) == visited_names(*net));

    // every depth: the backbone, a stage, a block inside it, a conv-norm block, its features
    auto& backbone = net->get<"backbone">();
    auto& block = backbone.get<"layer2">().get<0>();
    auto& conv2 = block.body().get<"conv2">();
    auto& features = conv2.get<"features">();
    std::vector<std::string> in_backbone;
    for (const auto& name : names_of(all))
        if (name.starts_with("backbone.")) in_backbone.push_back(name);
    CHECK(names_of(backbone.get_parameters()) == in_backbone);
    CHECK(names_of(backbone.get<"layer2">().get_parameters()).front() == "backbone.layer2.0.conv1.features.0.weight");
    CHECK(names_of(conv2.get_parameters()) ==
          std::vector<std::string>{"backbone.layer2.0.conv2.features.0.weight", "backbone.layer2.0.conv2.features.1.moving_mean",
                                   "backbone.layer2.0.conv2.features.1.moving_variance",
                                   "backbone.layer2.0.conv2.features.1.gamma", "backbone.layer2.0.conv2.features.1.beta"});
    CHECK(features.param_prefix() == "backbone.layer2.0.conv2.features");
    CHECK(printed(conv2.get_parameters()[1]) ==
          "Parameter (name=backbone.layer2.0.conv2.features.1.moving_mean, shape=(128,), dtype=Float32, "
          "requires_grad=False)");
    CHECK(names_of(block.shortcut().cell().get_parameters()).front() == "backbone.layer2.0.down_sample.features.0.weight");
    const auto pn = conv2.parameters_and_names();
    CHECK(pn.front().first == "features.0.weight");
    CHECK(pn.front().second.name == "backbone.layer2.0.conv2.features.0.weight");
}

TEST_CASE("freezing the backbone through its parameter list leaves an optimizer built afterwards only the head",
          "[cell][parameters][resnet]") {
    auto net = std::make_unique<ResNet50<2>>(uninitialized);
    for (const auto& p : net->get<"backbone">().trainable_params()) p.set_requires_grad(false);
    CHECK(names_of(net->trainable_params()) == std::vector<std::string>{"head.dense.weight", "head.dense.bias"});
    CHECK(net->untrainable_params().size() == 265);
    Momentum opt(*net, 0.01f, 0.9f);
    std::vector<std::string> moments;
    visit_parameters(opt, [&](std::string_view name, auto&) {
        if (name.starts_with("moments.")) moments.emplace_back(name);
    });
    CHECK(moments == std::vector<std::string>{"moments.head.dense.weight", "moments.head.dense.bias"});

    // a moving statistic has no gradient to require
    const auto stats = net->get<"backbone">().get<"conv1">().untrainable_params();
    REQUIRE(!stats.empty());
    CHECK(stats.front().name == "backbone.conv1.features.0.weight");  // frozen above
    const auto& moving = stats.at(1);
    CHECK(moving.name == "backbone.conv1.features.1.moving_mean");
    CHECK_NOTHROW(moving.set_requires_grad(false));
    CHECK_THROWS_AS(moving.set_requires_grad(true), ConfigError);
}
