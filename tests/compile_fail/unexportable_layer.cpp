// Must not compile: Unexportable has no export_rule, and the error must say so and name it.
#include "mindsave/mindsave.hpp"

struct Unexportable {
    void forward(const mindsave::Tensor& x, mindsave::Tensor& y) { y = x; }
    void backward(const mindsave::Tensor&, const mindsave::Tensor&, const mindsave::Tensor& dy, mindsave::Tensor* dx) {
        if (dx) *dx = dy;
    }
};

int main() {
    mindsave::Sequential<mindsave::Named<"fc", mindsave::Dense<4, 2>>, Unexportable> net;
    mindsave::export_model<mindsave::format::onnx>(net, mindsave::Shape{1, 4}, "never_written");
}
