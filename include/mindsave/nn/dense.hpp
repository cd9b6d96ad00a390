// Dense as MindSpore's nn.Dense: y = x W^T + b, weight [out, in] (MatMul with transpose_b).
// Default inits follow MindSpore 2.x; LeNet5 passes Normal(0.02) for weights as the model zoo does.
#pragma once

#include <cstddef>
#include <string_view>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/schema.hpp"
#include "mindsave/nn/init.hpp"
#include "mindsave/nn/kernels/elementwise.hpp"
#include "mindsave/nn/kernels/gemm.hpp"
#include "mindsave/nn/kernels/parallel_gemm.hpp"

namespace mindsave {

template <std::size_t In, std::size_t Out, init::Initializer WeightInit = init::HeUniform<>, bool HasBias = true,
          init::Initializer BiasInit = init::FanInUniform>
class Dense {
    static_assert(In > 0 && Out > 0, "Dense: in_channels and out_channels must be > 0");

public:
    static constexpr std::string_view cell_name = "Dense";
    static constexpr std::size_t in_channels = In, out_channels = Out;
    static constexpr bool has_bias = HasBias;

    Dense() : weight_({Out, In}) {
        if constexpr (HasBias) bias_ = Parameter<1>({Out});
    }
    explicit Dense(Generator& g) : Dense() { initialize(g); }

    void initialize(Generator& g) {
        WeightInit{}.fill({weight_.value.data(), weight_.size()}, In, Out, g);
        if constexpr (HasBias) BiasInit{}.fill({bias_.value.data(), bias_.size()}, In, Out, g);
    }

    template <class F>
    void visit_parameters(F&& f) {
        f(std::string_view("weight"), weight_);
        if constexpr (HasBias) f(std::string_view("bias"), bias_);
    }
    static constexpr void describe_parameters(SchemaBuilder& b) {
        b.add("weight", {Out, In});
        if constexpr (HasBias) b.add("bias", {Out});
    }

    Parameter<2>& weight() noexcept { return weight_; }
    Parameter<1>& bias() noexcept requires HasBias { return bias_; }

    void forward(const Tensor& x, Tensor& y) {
        if (x.dimension() != 2 || x.shape()[1] != In)
            throw ShapeError("Dense<" + std::to_string(In) + ", " + std::to_string(Out) + ">: expected input [N, " +
                             std::to_string(In) + "], got " +
                             shape_string(std::vector<std::size_t>(x.shape().begin(), x.shape().end())) +
                             " (put a Flatten before a Dense that follows a convolution)");
        const std::size_t N = x.shape()[0];
        ensure_shape(y, {N, Out});
        if constexpr (HasBias) kernels::broadcast_rows(bias_.value.data(), y.data(), N, Out);
        // y[N, Out] (+)= x[N, In] * W^T: rows of x against rows of W, along In
        kernels::gemm_nt_parallel(N, Out, In, x.data(), In, weight_.value.data(), In, y.data(), Out, HasBias);
    }

    void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
        const std::size_t N = x.shape()[0];
        // dW[Out, In] = dY^T[Out, N] * X[N, In]
        kernels::gemm_parallel(Out, In, N, kernels::transposed(dy.data(), Out), x.data(), In, weight_.grad.data(), In,
                               false);
        if constexpr (HasBias) kernels::sum_rows(dy.data(), N, Out, bias_.grad.data());
        if (dx) {
            ensure_shape(*dx, x.shape());
            // dX[N, In] = dY[N, Out] * W[Out, In]
            kernels::gemm_parallel(N, In, Out, kernels::row_major(dy.data(), Out), weight_.value.data(), In,
                                   dx->data(), In, false);
        }
    }

private:
    Parameter<2> weight_;
    Parameter<1> bias_;
};

}  // namespace mindsave
