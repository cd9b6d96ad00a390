// A user's program with the installed image component: encodes a small picture as JPEG, decodes it back.
#include <cstdio>
#include <cstdlib>

#include "mindsave/data/vision.hpp"

int main() {
    namespace data = mindsave::data;
    data::Image<std::uint8_t> img, back;
    img.reshape(16, 24, 3);
    for (std::size_t i = 0; i < img.size(); ++i) img.data[i] = static_cast<std::uint8_t>(128 + (i % 3) * 20);
    const auto jpeg = data::vision::encode_jpeg(img, 95);
    data::vision::decode_image(jpeg, back);
    int worst = 0;
    for (std::size_t i = 0; i < img.size(); ++i) worst = std::max(worst, std::abs(int{img.data[i]} - int{back.data[i]}));
    if (back.height != 16 || back.width != 24 || worst > 8) return 1;
    std::printf("vision round trip ok (%zu JPEG bytes)\n", jpeg.size());
    return 0;
}
