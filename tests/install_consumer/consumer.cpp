// Uses the installed headers through the umbrella include: builds LeNet5, runs it, lists parameters.
#include <iostream>

#include <mindsave/mindsave.hpp>

int main() {
    mindsave::LeNet5<> net(1);
    mindsave::Tensor x = xt::ones<float>({1, 1, 32, 32}), y;
    net.forward(x, y);
    mindsave::visit_parameters(net, [](std::string_view name, auto& p) {
        std::cout << name << ' ' << mindsave::shape_string(mindsave::view_of(p).shape) << '\n';
    });
    std::cout << "logits " << y.shape()[0] << 'x' << y.shape()[1] << '\n';
    return y.shape()[1] == 10 ? 0 : 1;
}
