// ResNet50 exactly as mindvision's resnet50(num_classes) builds it: backbone, neck, head, with its
// parameter names, shapes and order, so mindvision checkpoints (and converted torchvision weights) load.
#pragma once

#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

#include "mindsave/core/cell_name.hpp"
#include "mindsave/nn/activation.hpp"
#include "mindsave/nn/batchnorm.hpp"
#include "mindsave/nn/conv2d.hpp"
#include "mindsave/nn/dense.hpp"
#include "mindsave/nn/pooling.hpp"
#include "mindsave/nn/residual.hpp"
#include "mindsave/nn/sequential.hpp"

namespace mindsave {

namespace resnet {

// mindvision's ConvNormActivation: Conv2d (no bias, pad_mode 'pad', padding (K-1)/2) then BatchNorm2d,
// then ReLU unless Activation is false, as the children 0, 1, 2 of a SequentialCell named `features`.
// Initializers are the library's (MindSpore 2.x) defaults: mindvision passes none.
template <std::size_t In, std::size_t Out, std::size_t K, std::size_t Stride = 1, bool Activation = true>
using ConvNormActivation =
    Sequential<Named<"features", std::conditional_t<Activation,
                                                    Sequential<Conv2d<In, Out, K, PadMode::pad, Stride, (K - 1) / 2>,
                                                               BatchNorm2d<Out>, ReLU>,
                                                    Sequential<Conv2d<In, Out, K, PadMode::pad, Stride, (K - 1) / 2>,
                                                               BatchNorm2d<Out>>>>>;

inline constexpr std::size_t expansion = 4;

// mindvision's ResidualBlock (the bottleneck): conv1 1x1, conv2 3x3 carrying the stride, conv3 1x1 to
// 4x the width without activation, out = relu(conv3 + shortcut); the shortcut is down_sample (1x1 conv
// with the stride + BN) in a stage's first block, the identity elsewhere.
template <std::size_t In, std::size_t Width, std::size_t Stride, bool DownSample>
using ResidualBlock = Residual<
    Sequential<Named<"conv1", ConvNormActivation<In, Width, 1>>, Named<"conv2", ConvNormActivation<Width, Width, 3, Stride>>,
               Named<"conv3", ConvNormActivation<Width, Width * expansion, 1, 1, false>>>,
    std::conditional_t<DownSample, Named<"down_sample", ConvNormActivation<In, Width * expansion, 1, Stride, false>>,
                       Identity>>;

namespace detail {
template <class T, std::size_t>
using repeat = T;
template <std::size_t In, std::size_t Width, std::size_t Stride, std::size_t... I>
auto stage(std::index_sequence<I...>)
    -> Sequential<ResidualBlock<In, Width, Stride, true>, repeat<ResidualBlock<Width * expansion, Width, 1, false>, I>...>;
}  // namespace detail

// One stage (layer1 .. layer4): Blocks blocks indexed from 0. mindvision gives every stage's first
// block a down_sample, layer1's included (its test `in_channels != in_channels * expansion` always holds).
template <std::size_t In, std::size_t Width, std::size_t Blocks, std::size_t Stride>
using Stage = decltype(detail::stage<In, Width, Stride>(std::make_index_sequence<Blocks - 1>{}));

// The backbone: a 7x7 stride-2 stem, MaxPool 3x3 stride 2 pad_mode 'same', stages of 3, 4, 6, 3 blocks.
// Input [N, 3, H, W] -> [N, 2048, H/32, W/32] (rounded up at each halving).
using Backbone = Sequential<Named<"conv1", ConvNormActivation<3, 64, 7, 2>>,
                            Named<"max_pool", MaxPool2d<3, 2, PadMode::same>>,
                            Named<"layer1", Stage<64, 64, 3, 1>>, Named<"layer2", Stage<256, 128, 4, 2>>,
                            Named<"layer3", Stage<512, 256, 6, 2>>, Named<"layer4", Stage<1024, 512, 3, 2>>>;

// mindvision's DenseHead: Dropout then dense. Its Dropout has keep_prob 1.0 (and runs in training only),
// so it is the identity and is left out; it has no parameters, so names are unaffected.
template <std::size_t NumClasses>
using DenseHead = Sequential<Named<"dense", Dense<2048, NumClasses>>>;

}  // namespace resnet

// Input [N, 3, H, W] (224 x 224 for ImageNet weights; 32 x 32 and up work); output logits [N, NumClasses].
// 267 tensors in MindSpore's order: per conv-norm block features.0.weight, then features.1.moving_mean,
// moving_variance, gamma, beta; 161 of them trainable (53 conv weights, 53 gammas, 53 betas, head.dense
// weight and bias), the 106 moving statistics saved but never trained. Paths:
//   backbone.conv1.features.0.weight [64, 3, 7, 7], backbone.conv1.features.1.* [64],
//   backbone.layerK.i.{conv1,conv2,conv3}.features.{0.weight,1.*}, backbone.layerK.0.down_sample.features.*,
//   head.dense.weight [NumClasses, 2048], head.dense.bias [NumClasses]; the neck has none.
template <std::size_t NumClasses = 1000>
using ResNet50 = Sequential<Named<"backbone", resnet::Backbone>, Named<"neck", GlobalAvgPooling<>>,
                            Named<"head", resnet::DenseHead<NumClasses>>>;

// mindvision's class is ResNet (ResNet50 is the function that builds it).
template <std::size_t NumClasses>
inline constexpr std::string_view cell_name<ResNet50<NumClasses>> = "ResNet";

}  // namespace mindsave
