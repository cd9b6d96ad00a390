// Data parallel's exchange, MindSpore's DistributedGradReducer: gradients summed across the group in a
// few fused buckets (averaged with gradients_mean), parameters broadcast from one rank, BatchNorm statistics averaged.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mindsave/core/communicator.hpp"
#include "mindsave/core/concepts.hpp"

namespace mindsave {

struct DataParallelOptions {
    bool gradients_mean = true;        // divide the summed gradients by the group size (MindSpore's default in data parallel)
    bool parameter_broadcast = true;   // rank 0's parameters (and statistics) to every rank when data parallel starts
    std::size_t bucket_bytes = std::size_t{8} << 20;  // smaller gradients fused per allreduce, up to this much
    std::size_t in_place_bytes = std::size_t{256} << 10;  // a gradient this large is reduced where it lies, uncopied
};

namespace detail {

// A parameter's gradient, or a state tensor (BatchNorm's moving statistics), as a float span.
template <class P>
std::span<float> float_span(P& t) {
    return {t.data(), t.size()};
}

}  // namespace detail

// The gradients of net's trainable float parameters: each one of in_place_bytes or more reduced where it
// lies (copying it would cost more than the call saved), the smaller ones packed into buckets of about
// bucket_bytes, one allreduce each. Buffers are allocated once; reduce() allocates nothing.
template <Communicator Comm>
class GradReducer {
public:
    template <HasParameters Net>
    GradReducer(Comm& comm, Net& net, DataParallelOptions options = {}) : comm_(comm), options_(options) {
        visit_parameters(net, [&](std::string_view name, auto& p) {
            using P = std::remove_cvref_t<decltype(p)>;
            if constexpr (requires { p.grad; p.value; p.requires_grad; }) {
                if constexpr (std::is_same_v<typename P::value_type, float>) {
                    values_.push_back(detail::float_span(p.value));
                    if (p.requires_grad) grads_.push_back(detail::float_span(p.grad));
                }
            } else if constexpr (requires { p.data(); p.size(); }) {
                if constexpr (std::is_same_v<std::remove_cvref_t<decltype(*p.data())>, float>) {
                    values_.push_back(detail::float_span(p));
                    if (name.ends_with("moving_mean") || name.ends_with("moving_variance")) stats_.push_back(values_.back());
                }
            }
        });
        plan(grads_, grad_buckets_);
        plan(values_, value_buckets_);
        plan(stats_, stat_buckets_);
        std::size_t largest = 0;
        for (const auto* list : {&grad_buckets_, &value_buckets_, &stat_buckets_})
            for (const auto& b : *list) largest = std::max(largest, b.elements);
        buffer_.resize(largest);
    }

    // Sums every gradient across the group (and divides by its size with gradients_mean).
    void reduce() {
        const float scale = options_.gradients_mean ? 1.f / static_cast<float>(comm_.size()) : 1.f;
        for (const auto& b : grad_buckets_) exchange(grads_, b, [&](std::span<float> s) { comm_.allreduce_sum(s); }, scale);
    }

    // Every parameter and state tensor as rank `root` holds it.
    void broadcast_parameters(int root = 0) {
        for (const auto& b : value_buckets_)
            exchange(values_, b, [&](std::span<float> s) { comm_.broadcast(std::as_writable_bytes(s), root); }, 1.f);
    }

    // BatchNorm's moving statistics averaged over the group (MindSpore keeps each rank's own; averaging
    // before a save makes every rank's file the same).
    void average_statistics() {
        const float scale = 1.f / static_cast<float>(comm_.size());
        for (const auto& b : stat_buckets_) exchange(stats_, b, [&](std::span<float> s) { comm_.allreduce_sum(s); }, scale);
    }

    std::size_t gradient_tensors() const noexcept { return grads_.size(); }
    std::size_t gradient_buckets() const noexcept { return grad_buckets_.size(); }
    Comm& communicator() noexcept { return comm_; }

private:
    struct Bucket {
        std::size_t first, count, elements;
    };

    // Consecutive small tensors grouped until a bucket would pass bucket_bytes; a tensor of in_place_bytes
    // or more is a bucket of its own (reduced in place).
    void plan(const std::vector<std::span<float>>& tensors, std::vector<Bucket>& buckets) const {
        const std::size_t limit = std::max<std::size_t>(options_.bucket_bytes / sizeof(float), 1);
        const std::size_t alone = std::max<std::size_t>(options_.in_place_bytes / sizeof(float), 1);
        bool open = false;
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const std::size_t n = tensors[i].size();
            if (n >= alone) {
                buckets.push_back({i, 1, n});
                open = false;
                continue;
            }
            if (!open || buckets.back().elements + n > limit) buckets.push_back({i, 0, 0}), open = true;
            buckets.back().count += 1;
            buckets.back().elements += n;
        }
    }

    // f on the bucket's tensors (packed when more than one), then each value times scale.
    template <class F>
    void exchange(const std::vector<std::span<float>>& tensors, const Bucket& b, F&& f, float scale) {
        if (b.count == 1) {
            f(tensors[b.first]);
            if (scale != 1.f)
                for (float& v : tensors[b.first]) v *= scale;
            return;
        }
        float* packed = buffer_.data();
        std::size_t at = 0;
        for (std::size_t i = b.first; i < b.first + b.count; ++i) {
            std::copy(tensors[i].begin(), tensors[i].end(), packed + at);
            at += tensors[i].size();
        }
        f(std::span<float>(packed, b.elements));
        at = 0;
        for (std::size_t i = b.first; i < b.first + b.count; ++i) {  // copied back, scaled on the way
            const float* from = packed + at;
            float* to = tensors[i].data();
            for (std::size_t k = 0, n = tensors[i].size(); k < n; ++k) to[k] = from[k] * scale;
            at += tensors[i].size();
        }
    }

    Comm& comm_;
    DataParallelOptions options_;
    std::vector<std::span<float>> grads_, values_, stats_;
    std::vector<Bucket> grad_buckets_, value_buckets_, stat_buckets_;
    std::vector<float> buffer_;
};

}  // namespace mindsave
