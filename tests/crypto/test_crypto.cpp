// mindsave/io/crypto.hpp: MindSpore's encrypted checkpoints and MindIR. MindSpore's own encrypted MindIR
// fixtures decrypt with their key; mindsave's files decrypt with an independent implementation written
// from the spec's layout (mindspore_cipher.py, python3-cryptography) and its files load in mindsave;
// wrong keys, wrong modes and cut or damaged files are refused with nothing loaded.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/io/crypto.hpp"
#include "mindsave/mindsave.hpp"
#include "support/file_bytes.hpp"
#include "support/same_parameters.hpp"
#include "support/shared_data.hpp"
#include "support/temp_dir.hpp"

using namespace mindsave;
namespace fs = std::filesystem;
using testing::bytes_of;

namespace {

const std::string fixture_key = "0123456789ABCDEF";  // the key MindSpore's test files were encrypted with

std::string hex(const std::string& key) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : key) out += digits[c >> 4], out += digits[c & 15];
    return out;
}

int run(const std::string& command) {
    const int status = std::system((command + " >/dev/null 2>&1").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
// The independent implementation: mindspore_cipher.py encrypt|decrypt MODE KEY_HEX IN OUT [BLOCK_BYTES].
int python_cipher(const std::string& args) {
    static const bool ok = run("/usr/bin/python3 -c 'import cryptography.hazmat.primitives.ciphers.aead'") == 0;
    testing::require_tool(ok, "python3-cryptography", "apt-get install python3-cryptography");
    return run("/usr/bin/python3 " MINDSAVE_SOURCE_DIR "/tests/crypto/mindspore_cipher.py " + args);
}

std::vector<char> to_chars(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), reinterpret_cast<const char*>(b.data()) + b.size()};
}

struct KeyCase {
    const char* mode;
    std::string key;
};
const std::vector<KeyCase> every_mode_and_length{{"AES-GCM", std::string(16, 'k')}, {"AES-GCM", std::string(24, 'l')},
                                                 {"AES-GCM", std::string(32, 'm')}, {"AES-CBC", std::string(16, 'n')},
                                                 {"AES-CBC", std::string(24, 'o')}, {"AES-CBC", std::string(32, 'p')},
                                                 {"SM4-CBC", std::string(16, 'q')}};

}  // namespace

TEST_CASE("MindSpore's AES-GCM encrypted MindIR decrypts with its key, the tag-less pre-1.7 file too",
          "[crypto][fixture]") {
    const auto gcm = testing::require_shared("fixtures/mindspore/mindir/ms_add_aes_gcm_key_0123456789ABCDEF.mindir");
    const auto legacy =
        testing::require_shared("fixtures/mindspore/mindir/ms_add_aes_gcm_key_0123456789ABCDEF_legacy_notag.mindir");
    const auto plain_1_1 = testing::require_shared("fixtures/mindspore/mindir/ms_add_no_encrypt_1.1.0.mindir");
    testing::TempDir dir("crypto_fixture");

    // the tagged one: the same plaintext the independent implementation gets, a MindIR of MindSpore 1.7.0
    const auto plain = decrypt_file(gcm, fixture_key);
    REQUIRE(python_cipher("decrypt AES-GCM " + hex(fixture_key) + " " + gcm.string() + " " + (dir.path / "p").string()) == 0);
    CHECK(to_chars(plain) == bytes_of(dir.path / "p"));
    CHECK(format::mindir::Mapped(plain, gcm).model_version() == "1.7.0");
    // the tag-less 1.6 layout: refused unless asked for (nothing in it can be verified); then its plaintext is
    // MindSpore's unencrypted 1.1.0 file, byte for byte
    CHECK_THROWS_WITH(decrypt_file(legacy, fixture_key), Catch::Contains("allow_untagged_gcm"));
    CHECK_THROWS_AS(load_checkpoint(legacy, {.dec_key = fixture_key}), DecryptError);
    CHECK(to_chars(decrypt_file(legacy, fixture_key, "AES-GCM", /*allow_untagged_gcm=*/true)) == bytes_of(plain_1_1));
    CHECK_THROWS_WITH(load_checkpoint(legacy, {.dec_key = fixture_key, .allow_untagged_gcm = true}),
                      Catch::Contains("holds no parameters"));
    // a tagged file with its tag cut out reads as that layout: refused the same way, not decrypted unverified
    auto stripped = bytes_of(gcm);
    stripped.erase(stripped.begin() + 4, stripped.begin() + 20);
    testing::write_bytes(dir.path / "stripped.mindir", stripped);
    CHECK_THROWS_AS(decrypt_file(dir.path / "stripped.mindir", fixture_key), DecryptError);

    // the Add model has no weights: with the key the load gets as far as saying so
    CHECK_THROWS_WITH(load_checkpoint(gcm, {.dec_key = fixture_key}), Catch::Contains("holds no parameters"));
    // without the key, a wrong key, a wrong mode: typed errors that say what to do
    CHECK_THROWS_WITH(load_checkpoint(gcm), Catch::Contains("encrypted (AES-GCM") && Catch::Contains("dec_key"));
    CHECK_THROWS_AS(load_checkpoint(gcm), FormatError);
    CHECK_THROWS_AS(decrypt_file(gcm, "0123456789ABCDEX"), DecryptError);
    CHECK_THROWS_WITH(decrypt_file(gcm, fixture_key, "AES-CBC"), Catch::Contains("dec_mode = \"AES-GCM\""));
    CHECK_THROWS_AS(decrypt_file(gcm, "short"), ConfigError);
    CHECK_THROWS_AS(decrypt_file(plain_1_1, fixture_key), FormatError);  // not encrypted at all
}

TEST_CASE("mindsave's encrypted checkpoints decrypt with an independent implementation to the unencrypted file's "
          "bytes, in every mode and key length, and load back",
          "[crypto]") {
    testing::TempDir dir("crypto_save");
    LeNet5<> net(3);
    save_checkpoint(net, dir.path / "plain.ckpt");
    for (const auto& [mode, key] : every_mode_and_length) {
        INFO(mode << " with a " << key.size() << "-byte key");
        const auto file = dir.path / "enc.ckpt";
        save_checkpoint(net, file, {.enc_key = key, .enc_mode = mode});
        const auto written = bytes_of(file);
        CHECK(detail::cipher_magic(std::as_bytes(std::span(written))) == parse_enc_mode(mode, "test"));
        const auto out = dir.path / "decrypted";
        REQUIRE(python_cipher(std::string("decrypt ") + mode + " " + hex(key) + " " + file.string() + " " + out.string()) == 0);
        CHECK(bytes_of(out) == bytes_of(dir.path / "plain.ckpt"));
        LeNet5<> back(4);
        load_param_into_net<match::strict>(back, file, {.dec_key = key, .dec_mode = mode});
        testing::check_same_parameters(net, back);
        CHECK(load_checkpoint(file, {.dec_key = key, .dec_mode = mode}).size() == 8);
    }
}

TEST_CASE("checkpoints encrypted by the independent implementation load in mindsave, many blocks included",
          "[crypto]") {
    testing::TempDir dir("crypto_load");
    LeNet5<> net(5);
    const auto plain = dir.path / "plain.ckpt";
    save_checkpoint(net, plain);
    for (const auto& [mode, key] : every_mode_and_length) {
        INFO(mode << " with a " << key.size() << "-byte key");
        for (const char* block : {"", " 4096"}) {  // MindSpore's 64 MiB blocks, and 4 KiB ones: ~120 blocks
            const auto file = dir.path / "py.ckpt";
            fs::remove(file);
            REQUIRE(python_cipher(std::string("encrypt ") + mode + " " + hex(key) + " " + plain.string() + " " +
                                  file.string() + block) == 0);
            LeNet5<> back(6);
            load_param_into_net<match::strict>(back, file, {.dec_key = key, .dec_mode = mode});
            testing::check_same_parameters(net, back);
        }
    }
}

TEST_CASE("a wrong key, a cut file or a changed byte is refused with a typed error and the network unchanged",
          "[crypto]") {
    testing::TempDir dir("crypto_bad");
    LeNet5<> net(7);
    const std::string key(16, 'z');
    const auto gcm = dir.path / "gcm.ckpt", cbc = dir.path / "cbc.ckpt";
    save_checkpoint(net, gcm, {.enc_key = key});
    save_checkpoint(net, cbc, {.enc_key = key, .enc_mode = "AES-CBC"});
    LeNet5<> target(8);
    const LeNet5<> before = target;
    auto unchanged = [&] {
        LeNet5<> copy = before;
        testing::check_same_parameters(target, copy);
    };
    CHECK_THROWS_AS(load_param_into_net(target, gcm, {.dec_key = std::string(16, 'y')}), DecryptError);
    unchanged();
    // CBC has no tag: a wrong key fails the padding check, or (1 time in 256) the parse after it
    CHECK_THROWS_AS(load_param_into_net(target, cbc, {.dec_key = std::string(16, 'y'), .dec_mode = "AES-CBC"}), FormatError);
    unchanged();
    CHECK_THROWS_WITH(load_param_into_net(target, gcm, {.dec_key = key, .dec_mode = "SM4-CBC"}),
                      Catch::Contains("dec_mode = \"AES-GCM\""));
    CHECK_THROWS_WITH(load_checkpoint(gcm), Catch::Contains("checkpoint is encrypted (AES-GCM"));
    CHECK_THROWS_WITH(load_checkpoint(cbc), Catch::Contains("checkpoint is encrypted (AES-CBC"));
    CHECK_THROWS_AS(load_param_into_net(target, gcm), FormatError);
    unchanged();

    auto bytes = bytes_of(gcm);
    for (const std::size_t keep : {std::size_t{3}, std::size_t{30}, bytes.size() / 2, bytes.size() - 1}) {
        INFO("cut to " << keep << " bytes");
        const auto cut = dir.path / "cut.ckpt";
        testing::write_bytes(cut, std::span(bytes).first(keep));
        CHECK_THROWS_AS(load_param_into_net(target, cut, {.dec_key = key}), FormatError);
        unchanged();
    }
    for (const std::size_t at : {std::size_t{2}, std::size_t{10}, std::size_t{60}, bytes.size() / 2, bytes.size() - 1}) {
        INFO("byte " << at << " changed");
        auto changed = bytes;
        changed[at] = static_cast<char>(changed[at] ^ 0x40);
        const auto file = dir.path / "changed.ckpt";
        testing::write_bytes(file, changed);
        CHECK_THROWS_AS(load_param_into_net(target, file, {.dec_key = key}), FormatError);
        unchanged();
    }
}

TEST_CASE("an encrypted save past 64 MiB is cut into MindSpore's blocks", "[crypto]") {
    testing::TempDir dir("crypto_big");
    ParameterDict dict;
    const std::size_t n = (std::size_t{65} << 20) / 4;  // 65 MiB of Float32: two blocks
    TensorRecord big;
    big.name = "big";
    big.shape = {n};
    big.data.assign(n * 4, std::byte{0});
    for (std::size_t i = 0; i < n * 4; i += 4093) big.data[i] = static_cast<std::byte>(i * 7);
    dict.insert_or_assign(std::move(big));
    const std::string key(32, 'b');
    save_checkpoint(dict, dir.path / "plain.ckpt");
    save_checkpoint(dict, dir.path / "big.ckpt", {.enc_key = key});
    REQUIRE(python_cipher("decrypt AES-GCM " + hex(key) + " " + (dir.path / "big.ckpt").string() + " " +
                          (dir.path / "out").string()) == 0);
    CHECK(bytes_of(dir.path / "out") == bytes_of(dir.path / "plain.ckpt"));
    const auto back = load_checkpoint(dir.path / "big.ckpt", {.dec_key = key});
    CHECK(back.at("big").data == dict.at("big").data);
}

TEST_CASE("export with enc_key writes an encrypted MindIR that decrypts to the unencrypted export and loads",
          "[crypto]") {
    testing::TempDir dir("crypto_mindir");
    LeNet5<> net(9);
    export_model<format::mindir>(net, Shape{1, 1, 32, 32}, dir.path / "plain");
    const std::string key(24, 'x');
    export_model<format::mindir>(net, Shape{1, 1, 32, 32}, dir.path / "enc", {.enc_key = key, .enc_mode = "AES-CBC"});
    REQUIRE(python_cipher("decrypt AES-CBC " + hex(key) + " " + (dir.path / "enc.mindir").string() + " " +
                          (dir.path / "out").string()) == 0);
    CHECK(bytes_of(dir.path / "out") == bytes_of(dir.path / "plain.mindir"));
    LeNet5<> back(10);
    load_param_into_net<match::strict>(back, dir.path / "enc.mindir", {.dec_key = key, .dec_mode = "AES-CBC"});
    testing::check_same_parameters(net, back);
    CHECK_THROWS_WITH(load_checkpoint(dir.path / "enc.mindir"), Catch::Contains("MindIR model is encrypted (AES-CBC"));
}

TEST_CASE("ModelCheckpoint with CheckpointConfig's enc_key writes every checkpoint encrypted", "[crypto][model_checkpoint]") {
    testing::TempDir dir("crypto_model_checkpoint");
    LeNet5<> net(11);
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    struct Two {
        std::size_t pos = 0;
        std::size_t get_dataset_size() const { return 2; }
        void reset(std::size_t) { pos = 0; }
        bool next(Batch& b) {
            if (pos == 2) return false;
            b.images = Tensor::from_shape({2, 1, 32, 32});
            b.images.fill(0.1f * static_cast<float>(++pos));
            b.labels = Labels::from_shape({2});
            b.labels.fill(1);
            return true;
        }
    } data;
    const std::string key(16, 's');
    ModelCheckpoint<> ckpt("CKP", dir.path, {.save_checkpoint_steps = 2, .enc_key = key, .enc_mode = "SM4-CBC"});
    model.train(1, data, ckpt);
    const auto file = dir.path / "CKP-1_2.ckpt";
    REQUIRE(fs::is_regular_file(file));
    LeNet5<> back(12);
    Momentum back_opt(back, 0.01f, 0.9f);
    auto train = train_network(back, back_opt);
    load_param_into_net<match::strict>(train, file, {.dec_key = key, .dec_mode = "SM4-CBC"});
    CHECK(back_opt.global_step() == 2);
    testing::check_same_parameters(net, back);

    CHECK_THROWS_AS((ModelCheckpoint<>("CKP", dir.path, {.enc_key = "too short"})), ConfigError);
    CHECK_THROWS_AS((ModelCheckpoint<>("CKP", dir.path, {.crc_check = true, .enc_key = key})), ConfigError);
    CHECK_THROWS_AS((ModelCheckpoint<format::safetensors>("CKP", dir.path, {.enc_key = key})), ConfigError);
    CHECK_THROWS_AS(save_checkpoint(net, dir.path / "x.ckpt", {.crc_check = true, .enc_key = key}), ConfigError);
    CHECK_THROWS_AS(save_checkpoint<format::safetensors>(net, dir.path / "x", {.enc_key = key}), ConfigError);
}
