// Uses the installed optional cipher component: saves LeNet5 encrypted (AES-GCM) and loads it back.
#include <filesystem>
#include <iostream>

#include <mindsave/io/crypto.hpp>
#include <mindsave/mindsave.hpp>

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const std::filesystem::path file = argv[1];
    mindsave::LeNet5<> net(1), back(2);
    mindsave::save_checkpoint(net, file, {.enc_key = "0123456789ABCDEF"});
    mindsave::load_param_into_net<mindsave::match::strict>(back, file, {.dec_key = "0123456789ABCDEF"});
    const bool same = net.get<"fc3">().weight().value == back.get<"fc3">().weight().value;
    std::cout << "encrypted round trip " << (same ? "ok" : "differs") << '\n';
    return same ? 0 : 1;
}
