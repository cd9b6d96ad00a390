// The concepts the parts of mindsave meet through: layers, parameter visiting, losses,
// optimizers, datasets and callbacks. A type that models one plugs in without a base class.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <xtensor/xtensor.hpp>

#include "mindsave/core/aside_lease.hpp"
#include "mindsave/core/parameter.hpp"
#include "mindsave/core/tensor.hpp"

namespace mindsave {

// Integer class labels of one batch, MindSpore's Int32 label column.
using Labels = xt::xtensor<std::int32_t, 1>;

// One batch from a dataset: images NCHW float32, labels Int32.
struct Batch {
    Tensor images;
    Labels labels;
};

namespace detail {
// Stands in for a user's visitor when checking the parameter-visiting protocol.
struct ParameterProbe {
    template <class P>
    void operator()(std::string_view, P&) const {}
};
}  // namespace detail

// Parameter visiting: obj.visit_parameters(f) calls f(name, p) for each parameter p in save order,
// where p is a mindsave::Parameter or an xtensor container (for state without a gradient).
// A user's own struct of tensors models this with a three-line member template.
template <class T>
concept HasParameters = requires(T& t, detail::ParameterProbe probe) { t.visit_parameters(probe); };

namespace detail {
// The visitor nested visits share: dotted paths grow and shrink in one buffer, and every depth sees
// this same type. (A visitor wrapped anew at each level makes the visiting code's type, and the
// compiler's work, grow with the depth: for ResNet50 minutes and gigabytes per visitor.)
template <class F>
struct PathVisitor {
    F& f;
    std::string& path;

    template <class P>
    void operator()(std::string_view name, P& p) const {
        const std::size_t keep = path.size();
        if (keep) path += '.';
        path += name;
        f(std::string_view(path), p);
        path.resize(keep);
    }
};
template <class F>
struct is_path_visitor : std::false_type {};
template <class F>
struct is_path_visitor<PathVisitor<F>> : std::true_type {};
}  // namespace detail

// Calls f(path, p) for every parameter of obj, paths dotted under prefix ("" for none).
template <class Obj, class F>
void visit_parameters(Obj& obj, std::string_view prefix, F&& f) {
    if constexpr (HasParameters<Obj>) {
        if constexpr (detail::is_path_visitor<std::remove_cvref_t<F>>::value) {  // inside a composite's visit
            const std::size_t keep = f.path.size();
            if (!prefix.empty()) {
                if (keep) f.path += '.';
                f.path += prefix;
            }
            obj.visit_parameters(f);
            f.path.resize(keep);
        } else if (prefix.empty()) {
            obj.visit_parameters(f);
        } else {
            std::string path(prefix);
            detail::PathVisitor<std::remove_reference_t<F>> visitor{f, path};
            obj.visit_parameters(visitor);
        }
    }
}
template <class Obj, class F>
void visit_parameters(Obj& obj, F&& f) {
    visit_parameters(obj, std::string_view{}, std::forward<F>(f));
}

// A layer: forward fills y from x (keeping what backward needs); backward takes the same x and y,
// the output gradient dy, accumulates parameter gradients, and writes dx unless dx is null
// (the first layer of a network has no one to pass it to).
template <class L>
concept Layer = requires(L& l, const Tensor& x, Tensor& y, const Tensor& dy, Tensor* dx) {
    l.forward(x, y);
    l.backward(x, y, dy, dx);
};

// A layer whose forward treats each sample alone can run inside a region that Sequential shares with
// its neighbours (one thread hand-off for the chain, each sample passing through while it is in
// cache). prepare_samples(x, y) shapes y and sizes buffers for parallel_parts(N) parts, false when
// this input takes another path; forward_samples(x, y, b, e, part) then computes samples [b, e).
template <class L>
concept SampleWise = requires(L& l, const Tensor& x, Tensor& y, std::size_t n) {
    { l.prepare_samples(x, y) } -> std::same_as<bool>;
    l.forward_samples(x, y, n, n, n);
};

// The same for backward: prepare_backward_samples(x, y, dy, dx) sizes buffers (false: another path),
// backward_samples(x, y, dy, dx, b, e, part) handles samples [b, e) (a part's whole range at once, so
// a layer may batch its samples), and finish_backward_samples(x, dy) combines per-part results (weight
// gradients, summed in part order) after the region.
template <class L>
concept SampleWiseBackward = requires(L& l, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                                      std::size_t n) {
    { l.prepare_backward_samples(x, y, dy, dx) } -> std::same_as<bool>;
    l.backward_samples(x, y, dy, dx, n, n, n);
    l.finish_backward_samples(x, dy);
};

// Layers that behave differently in training (BatchNorm, Dropout) expose set_train.
template <class L>
void set_train(L& layer, bool training) {
    if constexpr (requires { layer.set_train(training); }) layer.set_train(training);
}

// Layers with parameters to initialise expose initialize(generator).
template <class L, class G>
void initialize(L& layer, G& generator) {
    if constexpr (requires { layer.initialize(generator); }) layer.initialize(generator);
}

// A loss: forward returns the scalar loss of logits against labels; backward writes dL/dlogits.
template <class L>
concept Loss = requires(L& l, const Tensor& logits, const Labels& labels, Tensor& dlogits) {
    { l.forward(logits, labels) } -> std::convertible_to<float>;
    l.backward(logits, labels, dlogits);
};

// An optimizer updates the parameters it was built over from their gradients, and exposes its
// own state (learning rate, moments, step count) by name like any parameter holder.
template <class O>
concept Optimizer = HasParameters<O> && requires(O& o) { o.step(); };

namespace detail {
struct MemoryProbe {
    void operator()(std::span<const std::byte>) const {}
};
}  // namespace detail

// An optimizer that can write aside, so a background save reads its state without a copy: after
// lease = write_aside(), its next step() writes every new value and moment into a second buffer and takes
// that buffer as the parameter's memory. The memory visit_aside_memory(f) listed before the call stays as
// it was while the lease is held: a later step that needs it again waits for the lease's release.
// reserve_aside_buffers() allocates and touches the second buffers ahead of time, on any thread.
template <class O>
concept WritesAside = Optimizer<O> && requires(O& o, const O& co, detail::MemoryProbe probe) {
    o.reserve_aside_buffers();
    { o.write_aside() } -> std::same_as<AsideLease>;
    co.visit_aside_memory(probe);
};

// A dataset yields batches epoch by epoch; the order in epoch e depends only on (seed, e), so a
// run can resume mid-way. next() reuses the buffers of the batch it fills.
template <class D>
concept Dataset = requires(D& d, Batch& b, std::size_t epoch) {
    { d.get_dataset_size() } -> std::convertible_to<std::size_t>;
    d.reset(epoch);
    { d.next(b) } -> std::same_as<bool>;
};

}  // namespace mindsave
