// Conv2d as MindSpore's nn.Conv2d: NCHW, weight [out, in, k, k], pad_mode same / valid / pad.
// Small valid stride-1 convolutions run direct (kernels/direct_conv.hpp); 3x3 stride-1 ones with enough
// channels by Winograd F(4x4, 3x3) (kernels/winograd.hpp); others im2col + gemm per sample (samples split
// across threads), or over the whole batch for small outputs (rows split across threads); buffers kept
// across steps. infer() applies a following BatchNorm, ReLU and residual add in the product's stores.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/padding.hpp"
#include "mindsave/core/parallel.hpp"
#include "mindsave/core/schema.hpp"
#include "mindsave/nn/inference.hpp"
#include "mindsave/nn/init.hpp"
#include "mindsave/nn/kernels/conv.hpp"
#include "mindsave/nn/kernels/direct_conv.hpp"
#include "mindsave/nn/kernels/elementwise.hpp"
#include "mindsave/nn/kernels/gemm.hpp"
#include "mindsave/nn/kernels/packed_gemm.hpp"
#include "mindsave/nn/kernels/parallel_gemm.hpp"
#include "mindsave/nn/kernels/winograd.hpp"

namespace mindsave {

template <std::size_t In, std::size_t Out, std::size_t K, PadMode Mode = PadMode::same, std::size_t Stride = 1,
          std::size_t Padding = 0, bool HasBias = false, init::Initializer WeightInit = init::HeUniform<>,
          init::Initializer BiasInit = init::FanInUniform>
class Conv2d {
    static_assert(In > 0 && Out > 0 && K > 0 && Stride > 0, "Conv2d: channels, kernel size and stride must be > 0");
    static_assert(Mode == PadMode::pad || Padding == 0,
                  "Conv2d: a padding amount needs PadMode::pad (MindSpore raises the same for same/valid)");

public:
    static constexpr std::string_view cell_name = "Conv2d";
    static constexpr std::size_t in_channels = In, out_channels = Out, kernel_size = K, stride = Stride;
    static constexpr PadMode pad_mode = Mode;
    static constexpr bool has_bias = HasBias;
    static constexpr bool stores_post = true;  // infer applies a PostOp in the product's stores

    Conv2d() : weight_({Out, In, K, K}) {
        if constexpr (HasBias) bias_ = Parameter<1>({Out});
    }
    explicit Conv2d(Generator& g) : Conv2d() { initialize(g); }

    void initialize(Generator& g) {
        WeightInit{}.fill({weight_.value.data(), weight_.size()}, In * K * K, Out * K * K, g);
        if constexpr (HasBias) BiasInit{}.fill({bias_.value.data(), bias_.size()}, In * K * K, Out * K * K, g);
    }

    template <class F>
    void visit_parameters(F&& f) {
        f(std::string_view("weight"), weight_);
        if constexpr (HasBias) f(std::string_view("bias"), bias_);
    }
    static constexpr void describe_parameters(SchemaBuilder& b) {
        b.add("weight", {Out, In, K, K});
        if constexpr (HasBias) b.add("bias", {Out});
    }

    Parameter<4>& weight() noexcept { return weight_; }
    Parameter<1>& bias() noexcept requires HasBias { return bias_; }

    // Output size along one axis, as MindSpore computes it.
    static constexpr std::size_t output_size(std::size_t n) {
        if constexpr (Mode == PadMode::same) return (n + Stride - 1) / Stride;
        else if constexpr (Mode == PadMode::valid) return n >= K ? (n - K) / Stride + 1 : 0;
        else return n + 2 * Padding >= K ? (n + 2 * Padding - K) / Stride + 1 : 0;
    }

    // Below this many output positions per sample (ResNet's last stage), a per-sample product [Out, R] x
    // [R, P] wastes much of its vectors; a batch with packed_batched_rows rows (samples x positions) or more
    // then runs as one packed product along the channel axes instead (forward_batched). Fewer rows (batch 1)
    // stay per sample, over padded positions: packing all of W costs them more than the padding.
    static constexpr std::size_t batched_below = 64;
    static constexpr std::size_t packed_batched_rows = 256;
    // Backward's column chunk per thread, in floats (1 MiB: about what one core's L2 holds).
    static constexpr std::size_t chunk_floats = std::size_t{1} << 18;

    void forward(const Tensor& x, Tensor& y) {
        if (!prepare_samples(x, y)) {
            if (winograd_) forward_winograd(x, y, nullptr);
            else forward_batched(x, y, x.shape()[0]);
            return;
        }
        parallel_for(x.shape()[0], [&](std::size_t begin, std::size_t end, std::size_t t) {
            forward_samples(x, y, begin, end, t);
        });
    }

    // Inference: forward with post (a BatchNorm's scale and shift, a residual, a ReLU) applied to each
    // entry as the product stores it, giving the bits of forward followed by those layers. Nothing is kept
    // for a backward.
    void infer(const Tensor& x, Tensor& y, const PostOp* post) {
        if (!post || post->empty()) {
            forward(x, y);
            return;
        }
        const bool per_sample = prepare_samples(x, y);
        check_post_shape(y, *post);
        if (!per_sample) {
            if (winograd_) forward_winograd(x, y, post);
            else forward_batched(x, y, x.shape()[0], post);
            return;
        }
        parallel_for(x.shape()[0], [&](std::size_t begin, std::size_t end, std::size_t t) {
            run_samples(x, y, begin, end, t, post);
        });
    }

    // The per-sample path's setup (false: the batch runs as a whole, by Winograd or, for small outputs,
    // as one product).
    bool prepare_samples(const Tensor& x, Tensor& y) {
        const std::size_t N = check_input(x);
        const auto& g = geometry_;
        ensure_shape(y, {N, Out, g.out_height, g.out_width});
        const std::size_t P = g.col_cols(), R = g.col_rows();
        winograd_ = K == 3 && Stride == 1 && kernels::winograd_applies(g, Out, N);
        if (winograd_ || batched(N, P)) return false;
        // Columns padded to whole vectors (zeros): the gemm runs no scalar tail; a padded output
        // goes through a per-thread buffer. Each sample is computed alone, so the split is invisible.
        const std::size_t parts = parallel_parts(N);
        direct_ = kernels::direct_conv_path<Out>(g);
        if (direct_ == kernels::DirectConv::by_channel) {  // weights (and bias, the last row) by tap
            const std::size_t Outp = padded(Out);
            ensure_shape(packed_, {R + 1, Outp});
            kernels::pack_weights_by_tap(weight_.value.data(), Out, R, packed_.data());
            std::fill(packed_.data() + R * Outp, packed_.data() + (R + 1) * Outp, 0.0f);
            if constexpr (HasBias) std::copy(bias_.value.begin(), bias_.value.end(), packed_.data() + R * Outp);
            ensure_shape(out_, {parts, kernels::direct_conv_scratch(g, Out)});
        }
        const std::size_t Pp = padded(P);
        split_products_ = N < num_threads();  // decided once here, not per sample under the pool's lock
        if (direct_ != kernels::DirectConv::none || columns_in_place(Pp)) return true;  // no columns
        ensure_shape(col_, {parts, R, Pp});
        if (Pp != P) ensure_shape(out_, {parts, Out, Pp});
        return true;
    }

    // Samples [begin, end) with part t's buffers, after prepare_samples.
    void forward_samples(const Tensor& x, Tensor& y, std::size_t begin, std::size_t end, std::size_t t) {
        run_samples(x, y, begin, end, t, nullptr);
    }

    void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
        if (prepare_backward_samples(x, y, dy, dx)) {
            parallel_for(x.shape()[0], [&](std::size_t begin, std::size_t end, std::size_t t) {
                backward_samples(x, y, dy, dx, begin, end, t);
            });
        } else {
            // a Winograd forward of small images (ResNet's 7x7 at batch 8) left no columns: made here
            if (winograd_) transposed_columns(x, x.shape()[0]);
            backward_batched(x, dy, dx, x.shape()[0]);
        }
        finish_backward_samples(x, dy);
    }

    // The per-sample backward's setup (false: the batched path's outputs, see forward).
    bool prepare_backward_samples(const Tensor& x, const Tensor&, const Tensor&, Tensor* dx) {
        const auto& g = geometry_;
        const std::size_t N = x.shape()[0], P = g.col_cols(), R = g.col_rows();
        if (dx) ensure_shape(*dx, x.shape());
        wgrad_ = kernels::DirectConv::none;
        if (batched(N, P)) return false;
        // The weight gradient goes direct, no columns, for a first layer with few channels (LeNet's conv1:
        // lane sums per part) and for one or two vectors of channels (conv2: per part its sums, then one
        // sample's output gradient position-major).
        if (!dx && kernels::weight_grad_row_vectors<Out>(g)) wgrad_ = kernels::DirectConv::by_width;
        else if (kernels::weight_grad_by_channel_applies<Out, K>(g)) wgrad_ = kernels::DirectConv::by_channel;
        if (wgrad_ == kernels::DirectConv::by_width) {
            ensure_shape(wacc_, {parallel_parts(N), kernels::weight_grad_lanes(Out, R)});
            return true;
        }
        if (wgrad_ == kernels::DirectConv::by_channel) ensure_shape(wacc_, {parallel_parts(N), (R + P) * padded(Out)});
        // Each thread takes a contiguous run of samples, in chunks of up to `chunk` samples whose columns
        // sit side by side, so the weight gradient is one product along chunk * P (long dot products).
        const std::size_t Pp = padded(P), parts = parallel_parts(N);
        const std::size_t per_part = (N + parts - 1) / parts;
        const std::size_t most = std::max<std::size_t>(1, chunk_floats / (R * Pp));
        const std::size_t chunks = std::max<std::size_t>(1, (per_part + most - 1) / most);
        chunk_ = std::max<std::size_t>(1, (per_part + chunks - 1) / chunks);
        const std::size_t ld = chunk_ * Pp;
        ensure_shape(bcol_, {parts, R, ld});
        ensure_shape(bdy_, {parts, Out, ld});
        if (parts > 1 && wgrad_ == kernels::DirectConv::none) ensure_shape(dw_parts_, {parts - 1, Out, R});
        return true;
    }

    // Part t's samples [begin, end). Its weight gradient goes to its own buffer (part 0's straight
    // into weight_.grad); finish_backward_samples adds them in part order, so a given thread count
    // always sums in the same order.
    void backward_samples(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx, std::size_t begin,
                          std::size_t end, std::size_t t) {
        const auto& g = geometry_;
        const std::size_t P = g.col_cols(), R = g.col_rows(), in_size = In * g.height * g.width;
        const bool by_columns = wgrad_ == kernels::DirectConv::none;
        if (wgrad_ == kernels::DirectConv::by_width) {  // no dx here
            float* acc = wacc_.data() + t * wacc_.shape()[1];
            std::fill(acc, acc + wacc_.shape()[1], 0.0f);
            const std::size_t row_vectors = kernels::weight_grad_row_vectors<Out>(g);
            for (std::size_t n = begin; n < end; ++n)
                kernels::weight_grad_direct<Out, K>(row_vectors, x.data() + n * in_size, g, dy.data() + n * Out * P, acc);
            return;
        }
        if (wgrad_ == kernels::DirectConv::by_channel) {
            const std::size_t Outp = padded(Out);
            float* acc = wacc_.data() + t * wacc_.shape()[1];
            float* dyT = acc + R * Outp;
            std::fill(acc, acc + R * Outp, 0.0f);
            for (std::size_t n = begin; n < end; ++n) {
                kernels::transpose_to_positions(dy.data() + n * Out * P, Out, P, Outp, dyT);
                kernels::weight_grad_by_channel<Out, K>(x.data() + n * in_size, g, dyT, acc);
            }
            if (!dx) return;
        }
        const std::size_t Pp = padded(P), chunk = chunk_, ld = chunk * Pp;
        float* col = bcol_.data() + t * R * ld;
        float* dyc = bdy_.data() + t * Out * ld;
        float* dw = !by_columns ? nullptr : t == 0 ? weight_.grad.data() : dw_parts_.data() + (t - 1) * Out * R;
        for (std::size_t c0 = begin; c0 < end; c0 += chunk) {
            const std::size_t count = std::min(chunk, end - c0), width = count * Pp;
            for (std::size_t s = 0; s < count; ++s) {
                const float* dyn = dy.data() + (c0 + s) * Out * P;
                for (std::size_t o = 0; o < Out; ++o) {  // dY_n, zero-padded like the columns
                    std::copy(dyn + o * P, dyn + (o + 1) * P, dyc + o * ld + s * Pp);
                    std::fill(dyc + o * ld + s * Pp + P, dyc + o * ld + (s + 1) * Pp, 0.0f);
                }
                if (by_columns) kernels::im2col(x.data() + (c0 + s) * in_size, g, col + s * Pp, ld, Pp);
            }
            // dW[Out, R] (+)= dY_chunk[Out, count*P] * col_chunk^T
            if (by_columns) kernels::gemm_nt(Out, R, width, dyc, ld, col, ld, dw, R, c0 > begin);
            if (!dx) continue;
            // dcol[R, count*P] = W^T[R, Out] * dY_chunk, then each sample's block folded onto its input
            kernels::gemm(R, width, Out, kernels::transposed(weight_.value.data(), R), dyc, ld, col, ld, false);
            for (std::size_t s = 0; s < count; ++s)
                kernels::col2im(col + s * Pp, g, dx->data() + (c0 + s) * in_size, ld, Pp);
        }
        if (begin == end && by_columns) std::fill(dw, dw + Out * R, 0.0f);
    }

    // After the parts: their weight gradients summed, and the bias gradient.
    void finish_backward_samples(const Tensor& x, const Tensor& dy) {
        const std::size_t N = x.shape()[0], P = geometry_.col_cols();
        if (N == 0) weight_.zero_grad();
        if (wgrad_ == kernels::DirectConv::by_width && N > 0) {
            kernels::weight_grad_reduce(wacc_.data(), wacc_.shape()[0], wacc_.shape()[1], Out * geometry_.col_rows(),
                                        weight_.grad.data());
        } else if (wgrad_ == kernels::DirectConv::by_channel && N > 0) {
            kernels::weight_grad_reduce_by_channel(wacc_.data(), wacc_.shape()[0], wacc_.shape()[1], Out,
                                                   geometry_.col_rows(), padded(Out), weight_.grad.data());
        } else if (!batched(N, P) && wgrad_ == kernels::DirectConv::none) {
            float* dw = weight_.grad.data();
            const std::size_t parts = parallel_parts(N), OR = Out * geometry_.col_rows();
            for (std::size_t t = 1; t < parts; ++t) kernels::add(dw, dw_parts_.data() + (t - 1) * OR, dw, OR);
        }
        if constexpr (HasBias) {
            bias_.zero_grad();
            for (std::size_t n = 0; n < N; ++n)
                for (std::size_t o = 0; o < Out; ++o) bias_.grad(o) += kernels::sum(dy.data() + (n * Out + o) * P, P);
        }
    }

private:
    // N samples of P output positions each run as one batched product (forward_batched, backward_batched).
    static constexpr bool batched(std::size_t N, std::size_t P) noexcept {
        return P < batched_below && N * P >= packed_batched_rows;
    }

    // forward_samples, with post (if any) applied as each sample's output is stored.
    void run_samples(const Tensor& x, Tensor& y, std::size_t begin, std::size_t end, std::size_t t, const PostOp* post) {
        const auto& g = geometry_;
        const std::size_t P = g.col_cols(), R = g.col_rows(), in_size = In * g.height * g.width;
        const auto epilogue = [&](std::size_t n) { return epilogue_of(*post, n, Out, P); };
        if (direct_ != kernels::DirectConv::none) {
            const float* bias = nullptr;
            if constexpr (HasBias) bias = direct_ == kernels::DirectConv::by_channel ? packed_.data() + R * padded(Out)
                                                                                    : bias_.value.data();
            float* scratch = direct_ == kernels::DirectConv::by_channel ? out_.data() + t * out_.shape()[1] : nullptr;
            for (std::size_t n = begin; n < end; ++n) {
                float* yn = y.data() + n * Out * P;
                kernels::conv_direct<Out>(direct_, x.data() + n * in_size, g, weight_.value.data(), packed_.data(), bias,
                                          scratch, yn);
                if (post)  // small outputs (LeNet's): a pass over the sample while it is in cache
                    for (std::size_t o = 0; o < Out; ++o) epilogue(n).row(o, 0, yn + o * P, yn + o * P, P);
            }
            return;
        }
        // A thread per sample: im2col, then the register-blocked product reading the columns and W in place
        // (measured faster here than packing them, at 85-100% of the FMA peak for ResNet50's shapes at batch 8).
        // Fewer samples than threads (batch 1 inference): the same, with the columns written a channel range
        // per thread and the product split by rows of W over the threads (packing W instead cost a quarter of
        // batch-1 inference). A 1x1 stride-1 convolution over whole vectors of positions reads its input as
        // the columns, uncopied.
        const auto w = kernels::row_major(weight_.value.data(), R);
        const std::size_t Pp = padded(P);
        const bool in_place = columns_in_place(Pp);
        float* col = in_place ? nullptr : col_.data() + t * R * Pp;
        for (std::size_t n = begin; n < end; ++n) {
            float* yn = y.data() + n * Out * P;
            float* out = Pp == P ? yn : out_.data() + t * Out * Pp;
            const float* columns = x.data() + n * in_size;
            if (!in_place) {
                if (split_products_) {
                    const std::size_t plane = g.height * g.width, rows = K * K * Pp;
                    parallel_for(In, [&](std::size_t c0, std::size_t c1, std::size_t) {
                        kernels::ConvGeometry part = g;
                        part.channels = c1 - c0;
                        kernels::im2col(columns + c0 * plane, part, col + c0 * rows, Pp);
                    });
                } else {
                    kernels::im2col(columns, g, col, Pp);
                }
                columns = col;
            }
            if constexpr (HasBias)
                for (std::size_t o = 0; o < Out; ++o) std::fill(out + o * Pp, out + o * Pp + P, bias_.value(o));
            const auto product = [&](const auto& epi) {
                if (split_products_) kernels::gemm_parallel(Out, Pp, R, w, columns, Pp, out, Pp, HasBias, epi);
                else kernels::gemm(Out, Pp, R, w, columns, Pp, out, Pp, HasBias, epi);
            };
            if (post && Pp == P) {
                product(epilogue(n));
                continue;
            }
            product(kernels::NoEpilogue{});
            if (Pp == P) continue;
            for (std::size_t o = 0; o < Out; ++o) {  // padded rows: the post on the way into y
                if (post) epilogue(n).row(o, 0, out + o * Pp, yn + o * P, P);
                else std::copy(out + o * Pp, out + o * Pp + P, yn + o * P);
            }
        }
    }

    // The batch by Winograd F(4x4, 3x3): a quarter of im2col's multiply-adds, its tiles spread over the threads
    // (batch 1 included). The filters' transform is kept while the weights are unchanged (inference). Backward
    // stays on columns: it is the gradient of the same convolution, which Winograd computes to within a few
    // float roundings (kernels/winograd.hpp).
    void forward_winograd(const Tensor& x, Tensor& y, const PostOp* post) {
        const std::size_t N = x.shape()[0], P = geometry_.col_cols();
        kernels::winograd_filters(weight_.value.data(), Out, In, winograd_scratch_);
        kernels::winograd_prepare(winograd_scratch_, N, geometry_, Out);
        const float* bias = nullptr;
        if constexpr (HasBias) bias = bias_.value.data();
        if (post)
            kernels::winograd_conv(x.data(), N, geometry_, Out, winograd_scratch_, bias, y.data(),
                                   [&](std::size_t n) { return epilogue_of(*post, n, Out, P); });
        else
            kernels::winograd_conv(x.data(), N, geometry_, Out, winograd_scratch_, bias, y.data());
    }

    // A 1x1 stride-1 convolution without padding, over whole vectors of positions: its input is its columns.
    bool columns_in_place(std::size_t padded_positions) const noexcept {
        const auto& g = geometry_;
        return K == 1 && Stride == 1 && g.pad_top == 0 && g.pad_left == 0 && padded_positions == g.col_cols();
    }
    static constexpr std::size_t padded(std::size_t n) noexcept {
        return (n + kernels::simd_width - 1) / kernels::simd_width * kernels::simd_width;
    }

    // The batch as one product: colT[N*P, R] (each sample's columns, transposed) against the weight
    // rows gives Y^T[N*P, Out], dot products along R; each sample's block is transposed into y.
    // colT stays for backward.
    void forward_batched(const Tensor& x, Tensor& y, std::size_t N, const PostOp* post = nullptr) {
        const std::size_t P = geometry_.col_cols(), R = geometry_.col_rows();
        transposed_columns(x, N);
        // Y^T = colT * W^T, the packed product vectorized along Out (no lane sums; measured 1.15-1.25x the dot
        // products at batch 8)
        kernels::packed_gemm(N * P, Out, R, kernels::row_major(colT_.data(), R),
                             kernels::MatrixB{weight_.value.data(), 1, static_cast<std::ptrdiff_t>(R)}, rowsT_.data(), Out, false);
        parallel_for(N, [&](std::size_t begin, std::size_t end, std::size_t) {
            for (std::size_t n = begin; n < end; ++n) {
                float* yn = y.data() + n * Out * P;
                kernels::transpose(rowsT_.data() + n * P * Out, P, Out, yn);
                if constexpr (HasBias)
                    for (std::size_t o = 0; o < Out; ++o)
                        for (std::size_t p = 0; p < P; ++p) yn[o * P + p] += bias_.value(o);
                if (post)
                    for (std::size_t o = 0; o < Out; ++o) epilogue_of(*post, n, Out, P).row(o, 0, yn + o * P, yn + o * P, P);
            }
        });
    }

    // colT[N*P, R] (and rowsT_'s shape): each sample's columns, transposed.
    void transposed_columns(const Tensor& x, std::size_t N) {
        const auto& g = geometry_;
        const std::size_t P = g.col_cols(), R = g.col_rows(), in_size = In * g.height * g.width;
        ensure_shape(col_, {parallel_parts(N), R, P});
        ensure_shape(colT_, {N * P, R});
        ensure_shape(rowsT_, {N * P, Out});
        parallel_for(N, [&](std::size_t begin, std::size_t end, std::size_t t) {
            float* col = col_.data() + t * R * P;
            for (std::size_t n = begin; n < end; ++n) {
                kernels::im2col(x.data() + n * in_size, g, col);
                kernels::transpose(col, R, P, colT_.data() + n * P * R);
            }
        });
    }

    // dW[Out, R] = dY[Out, N*P] * colT[N*P, R] and dcol^T[N*P, R] = dY^T[N*P, Out] * W[Out, R], both
    // vectorized along R; dcol^T overwrites colT once dW is done.
    void backward_batched(const Tensor& x, const Tensor& dy, Tensor* dx, std::size_t N) {
        const auto& g = geometry_;
        const std::size_t P = g.col_cols(), R = g.col_rows(), in_size = In * g.height * g.width;
        if (colT_.dimension() != 2 || colT_.shape()[0] != N * P || x.shape()[0] != N)
            throw ShapeError("Conv2d::backward: call forward on the same input first");
        const std::size_t parts = parallel_parts(N);
        ensure_shape(col_, {parts, R, P});
        parallel_for(N, [&](std::size_t begin, std::size_t end, std::size_t) {
            for (std::size_t n = begin; n < end; ++n)
                kernels::transpose(dy.data() + n * Out * P, Out, P, rowsT_.data() + n * P * Out);
        });
        kernels::gemm_parallel(Out, R, N * P, kernels::transposed(rowsT_.data(), Out), colT_.data(), R,
                               weight_.grad.data(), R, false);
        if (!dx) return;
        kernels::gemm_parallel(N * P, R, Out, kernels::row_major(rowsT_.data(), Out), weight_.value.data(), R,
                               colT_.data(), R, false);
        parallel_for(N, [&](std::size_t begin, std::size_t end, std::size_t t) {
            float* col = col_.data() + t * R * P;
            for (std::size_t n = begin; n < end; ++n) {
                float* dxn = dx->data() + n * in_size;
                std::fill(dxn, dxn + in_size, 0.0f);
                kernels::transpose(colT_.data() + n * P * R, P, R, col);
                kernels::col2im_add(col, g, dxn);
            }
        });
    }

    std::size_t check_input(const Tensor& x) {
        if (x.dimension() != 4 || x.shape()[1] != In)
            throw ShapeError("Conv2d<" + std::to_string(In) + ", " + std::to_string(Out) + ", " + std::to_string(K) +
                             ">: expected input [N, " + std::to_string(In) + ", H, W], got " +
                             shape_string(std::vector<std::size_t>(x.shape().begin(), x.shape().end())));
        const std::size_t H = x.shape()[2], W = x.shape()[3];
        const std::size_t OH = output_size(H), OW = output_size(W);
        if (OH == 0 || OW == 0)
            throw ShapeError("Conv2d: input " + std::to_string(H) + "x" + std::to_string(W) + " is smaller than the " +
                             std::to_string(K) + "x" + std::to_string(K) + " kernel");
        std::size_t pad_top = Padding, pad_left = Padding;
        if constexpr (Mode == PadMode::same) {  // the odd pixel of padding goes to the bottom / right
            pad_top = ((OH - 1) * Stride + K > H ? (OH - 1) * Stride + K - H : 0) / 2;
            pad_left = ((OW - 1) * Stride + K > W ? (OW - 1) * Stride + K - W : 0) / 2;
        }
        geometry_ = {In, H, W, K, Stride, pad_top, pad_left, OH, OW};
        return x.shape()[0];
    }

    Parameter<4> weight_;
    Parameter<1> bias_;
    kernels::ConvGeometry geometry_{};
    kernels::DirectConv direct_ = kernels::DirectConv::none;  // forward's path for the current input
    bool split_products_ = false;  // fewer samples than threads: each product split over them (forward_samples)
    bool winograd_ = false;        // forward's path for the current input: Winograd
    kernels::WinogradScratch winograd_scratch_;
    Tensor packed_;               // by_channel: weights [R, Outp] by tap, then the bias row
    Tensor wacc_;                 // per part: the direct weight gradient's lane-wise sums
    kernels::DirectConv wgrad_ = kernels::DirectConv::none;  // backward's weight gradient (none: by columns)
    Tensor col_;                  // per thread: [R, padded P] columns
    Tensor out_;                  // per thread: a padded output (or output gradient) block
    Tensor dw_parts_;             // threads 1.. : partial weight gradients
    Tensor bcol_, bdy_;           // per thread: backward's chunk of columns and of padded output gradients
    Tensor colT_, rowsT_;  // the batched path's transposed columns and outputs (or output gradients)
    std::size_t chunk_ = 1;  // backward's samples per column chunk
};

}  // namespace mindsave
