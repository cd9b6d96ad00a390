// The optional image component, mindsave::vision in CMake (libturbojpeg, libpng): Decode, read_image,
// ImageFolderDataset, RandomCropDecodeResize, load_preprocess. mindsave.hpp leaves it out: the core needs neither.
#pragma once

#include "mindsave/data/vision/decode.hpp"
#include "mindsave/data/vision/image_folder.hpp"
#include "mindsave/data/vision/jpeg.hpp"
#include "mindsave/data/vision/limits.hpp"
#include "mindsave/data/vision/png.hpp"
#include "mindsave/data/vision/preprocess.hpp"
#include "mindsave/data/vision/random_crop_decode_resize.hpp"
