// The optional image component, mindsave::vision in CMake (links libturbojpeg and libpng): Decode,
// read_image, ImageFolderDataset. mindsave.hpp leaves it out, so the core needs no image library.
#pragma once

#include "mindsave/data/vision/decode.hpp"
#include "mindsave/data/vision/image_folder.hpp"
#include "mindsave/data/vision/jpeg.hpp"
#include "mindsave/data/vision/limits.hpp"
#include "mindsave/data/vision/png.hpp"
