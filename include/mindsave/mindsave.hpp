// mindsave: MindSpore-compatible networks, training and checkpoints for C++20, header-only.
// The umbrella header: includes every public header, nothing else.
#pragma once

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/dtype.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/parameter.hpp"
#include "mindsave/core/rng.hpp"
#include "mindsave/core/tensor.hpp"
#include "mindsave/nn/activation.hpp"
#include "mindsave/nn/conv2d.hpp"
#include "mindsave/nn/dense.hpp"
#include "mindsave/nn/init.hpp"
#include "mindsave/nn/pooling.hpp"
#include "mindsave/nn/sequential.hpp"
#include "mindsave/models/lenet5.hpp"
#include "mindsave/train/callbacks.hpp"
#include "mindsave/train/loss.hpp"
#include "mindsave/train/model.hpp"
#include "mindsave/train/momentum.hpp"
