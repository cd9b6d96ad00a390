// SoftmaxCrossEntropyWithLogits(sparse=True, reduction='mean' | 'sum') as MindSpore's nn loss.
// Forward keeps the softmax; backward is (softmax - onehot) scaled by the reduction.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"

namespace mindsave {

enum class Reduction { mean, sum };

// Labels are class indices (MindSpore's sparse=True); one-hot labels are not taken.
template <Reduction R = Reduction::mean>
class SoftmaxCrossEntropyWithLogits {
public:
    static constexpr std::string_view cell_name = "SoftmaxCrossEntropyWithLogits";

    float forward(const Tensor& logits, const Labels& labels) {
        check(logits, labels);
        const std::size_t N = logits.shape()[0], C = logits.shape()[1];
        ensure_shape(prob_, {N, C});
        double total = 0.0;
        for (std::size_t n = 0; n < N; ++n) {
            const float* z = logits.data() + n * C;
            float* p = prob_.data() + n * C;
            const float zmax = *std::max_element(z, z + C);
            double s = 0.0;
            for (std::size_t c = 0; c < C; ++c) s += (p[c] = std::exp(z[c] - zmax));
            for (std::size_t c = 0; c < C; ++c) p[c] = static_cast<float>(p[c] / s);
            total += std::log(s) - static_cast<double>(z[static_cast<std::size_t>(labels(n))] - zmax);
        }
        return static_cast<float>(R == Reduction::mean && N ? total / static_cast<double>(N) : total);
    }

    // Needs the forward of the same logits just before (it reuses the softmax).
    void backward(const Tensor& logits, const Labels& labels, Tensor& dlogits) {
        const std::size_t N = logits.shape()[0], C = logits.shape()[1];
        ensure_shape(dlogits, {N, C});
        const float scale = R == Reduction::mean && N ? 1.0f / static_cast<float>(N) : 1.0f;
        for (std::size_t n = 0; n < N; ++n) {
            for (std::size_t c = 0; c < C; ++c) dlogits(n, c) = prob_(n, c) * scale;
            dlogits(n, static_cast<std::size_t>(labels(n))) -= scale;
        }
    }

private:
    static void check(const Tensor& logits, const Labels& labels) {
        if (logits.dimension() != 2 || labels.size() != logits.shape()[0])
            throw ShapeError("SoftmaxCrossEntropyWithLogits: expected logits [N, C] and N labels, got logits " +
                             shape_string(std::vector<std::size_t>(logits.shape().begin(), logits.shape().end())) +
                             " and " + std::to_string(labels.size()) + " labels");
        const auto C = static_cast<std::int32_t>(logits.shape()[1]);
        for (std::size_t n = 0; n < labels.size(); ++n)
            if (labels(n) < 0 || labels(n) >= C)
                throw ShapeError("SoftmaxCrossEntropyWithLogits: label " + std::to_string(labels(n)) + " of sample " +
                                 std::to_string(n) + " is outside [0, " + std::to_string(C) +
                                 "): the network's class count and the dataset's labels disagree");
    }

    Tensor prob_;
};

}  // namespace mindsave
