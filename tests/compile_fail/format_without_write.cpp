// Must not compile: a "format" with no write function is not a CheckpointFormat; the error names the
// concept and the missing requirement (writes_records).
#include "mindsave/checkpoint/save.hpp"
#include "mindsave/models/lenet5.hpp"

struct half_format {
    static constexpr std::string_view extension = ".half";
    struct WriteOptions {};
};

int main() {
    mindsave::LeNet5<> net;
    mindsave::save_checkpoint<half_format>(net, "lenet");
}
