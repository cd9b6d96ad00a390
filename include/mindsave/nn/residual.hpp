// Residual<Body, Shortcut>: out = relu(body(x) + shortcut(x)), the ResNet block as a layer, with
// Identity as the shortcut of blocks whose input already has the output's shape; infer adds in the body's stores.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/parallel.hpp"
#include "mindsave/core/schema.hpp"
#include "mindsave/nn/inference.hpp"
#include "mindsave/nn/kernels/elementwise.hpp"
#include "mindsave/nn/sequential.hpp"

namespace mindsave {

// y = x. As a Residual shortcut it costs nothing: the block reads x directly.
struct Identity {
    static constexpr std::string_view cell_name = "Identity";
    void forward(const Tensor& x, Tensor& y) {
        ensure_shape(y, x.shape());
        std::copy(x.data(), x.data() + x.size(), y.data());
    }
    void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
        if (!dx) return;
        ensure_shape(*dx, x.shape());
        std::copy(dy.data(), dy.data() + dy.size(), dx->data());
    }
};

// Parameter paths are those of a mindvision ResidualBlock: the body's own (its Named children:
// conv1, conv2, conv3) without a prefix, then the shortcut's, which must therefore be Named
// (Named<"down_sample", ...>) when it has parameters, or its paths would collide with the body's.
template <Layer Body, Layer Shortcut = Identity>
class Residual {
public:
    static constexpr std::string_view cell_name = "ResidualBlock";
    using body_type = Body;
    using shortcut_type = Shortcut;
    static constexpr bool identity_shortcut = std::is_same_v<Shortcut, Identity>;
    static_assert(!HasParameters<Shortcut> || detail::is_named<Shortcut>::value,
                  "Residual: give a shortcut with parameters a name, e.g. Named<\"down_sample\", ...>, so its "
                  "parameter paths differ from the body's");

    // A fresh block is initialised from a fixed seed (0), as a fresh Sequential is.
    Residual() : Residual(uninitialized) {
        Generator g(0);
        initialize(g);
    }
    explicit Residual(uninitialized_t)
        : body_(detail::make_uninitialized<Body>()), shortcut_(detail::make_uninitialized<Shortcut>()) {
        assign_param_prefix({});
    }
    explicit Residual(Generator& g) : Residual(uninitialized) { initialize(g); }

    template <class G>
    void initialize(G& g) {
        mindsave::initialize(body_, g);
        mindsave::initialize(shortcut_, g);
    }
    void set_train(bool training = true) {
        mindsave::set_train(body_, training);
        mindsave::set_train(shortcut_, training);
    }

    template <class F>
    void visit_parameters(F&& f) {
        mindsave::visit_parameters(body_, f);
        mindsave::visit_parameters(shortcut_, f);
    }
    // The body's and the shortcut's names continue the block's own path (see above).
    void assign_param_prefix(std::string_view prefix) {
        detail::assign_param_prefix(body_, prefix);
        detail::assign_param_prefix(shortcut_, prefix);
    }
    static constexpr void describe_parameters(SchemaBuilder& b) {
        b.describe<Body>();
        b.describe<Shortcut>();
    }

    Body& body() noexcept { return body_; }
    const Body& body() const noexcept { return body_; }
    Shortcut& shortcut() noexcept { return shortcut_; }
    const Shortcut& shortcut() const noexcept { return shortcut_; }

    static constexpr bool fuses_in_inference = true;
    static constexpr std::size_t elementwise_grain = 16384;  // values below which one thread adds them all

    // Inference: the shortcut first, then the body with the sum and the ReLU as its last layer's post (a
    // convolution's stores apply them: no body output, no pass of add_relu). Same bits as forward.
    void infer(const Tensor& x, Tensor& y, const PostOp* post) {
        inferred_ = true;
        const Tensor* skip = &x;
        if constexpr (!identity_shortcut) {
            mindsave::infer(shortcut_, x, shortcut_out_);
            skip = &shortcut_out_;
        }
        const PostOp sum{nullptr, nullptr, skip, true};
        mindsave::infer(body_, x, y, &sum);
        if (post) apply_post(y, *post);
    }

    void forward(const Tensor& x, Tensor& y) {
        inferred_ = false;
        body_.forward(x, body_out_);
        const Tensor* skip = &x;
        if constexpr (!identity_shortcut) {
            shortcut_.forward(x, shortcut_out_);
            skip = &shortcut_out_;
        }
        if (body_out_.shape() != skip->shape())
            throw ShapeError("Residual: the body gives " + shape_text(body_out_) + " but the shortcut " +
                             shape_text(*skip) +
                             (identity_shortcut ? "; a block that changes the shape needs a down_sample shortcut" : ""));
        ensure_shape(y, body_out_.shape());
        parallel_for(y.size(), [&](std::size_t b, std::size_t e, std::size_t) {
            kernels::add_relu(body_out_.data() + b, skip->data() + b, y.data() + b, e - b);
        }, elementwise_grain);
    }

    // The sum's gradient (dy where the output is positive) flows into both branches; dx adds them.
    void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
        if (inferred_)
            throw ShapeError("Residual::backward after infer (Model::predict, eval): inference keeps no branch outputs; "
                             "call forward on the same input first");
        ensure_shape(dsum_, y.shape());
        parallel_for(y.size(), [&](std::size_t b, std::size_t e, std::size_t) {
            kernels::relu_backward(y.data() + b, dy.data() + b, dsum_.data() + b, e - b);
        }, elementwise_grain);
        body_.backward(x, body_out_, dsum_, dx);
        const Tensor* branch = &dsum_;
        if constexpr (!identity_shortcut) {
            shortcut_.backward(x, shortcut_out_, dsum_, dx ? &dshortcut_ : nullptr);
            branch = &dshortcut_;
        }
        if (dx)
            parallel_for(dx->size(), [&](std::size_t b, std::size_t e, std::size_t) {
                kernels::add(dx->data() + b, branch->data() + b, dx->data() + b, e - b);
            }, elementwise_grain);
    }

private:
    static std::string shape_text(const Tensor& t) {
        return shape_string(std::vector<std::size_t>(t.shape().begin(), t.shape().end()));
    }

    Body body_;
    Shortcut shortcut_;
    Tensor body_out_, shortcut_out_;  // branch outputs of the last forward, for backward
    Tensor dsum_, dshortcut_;
    bool inferred_ = false;  // the last pass was infer: body_out_ is not forward's
};

}  // namespace mindsave
