// The optional cipher component: MindSpore's AES-GCM, AES-CBC and SM4-CBC block encryption through
// OpenSSL's libcrypto. Include it (and link mindsave::crypto) to save and load encrypted files.
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/io/cipher.hpp"
#include "mindsave/io/file.hpp"

namespace mindsave::detail {

// The block layout (MindSpore >= 1.7, all integers 32-bit little-endian):
//   magic | tag[16] (GCM only) | block_len = 4 + 16 + 4 + cipher_len | iv_len = 16 | iv[16] | cipher_len | cipher
// GCM uses the first 12 IV bytes as its nonce (MindSpore's OpenSSL resets the IV length to 12) and no AAD;
// CBC and SM4 use all 16 with PKCS#7 padding. Files from MindSpore <= 1.6 have no GCM tag.
namespace cipher_layout {
inline constexpr std::size_t tag_bytes = 16, iv_bytes = 16, gcm_nonce_bytes = 12;

inline std::uint32_t get_u32(std::span<const std::byte> b, std::size_t at) {
    return static_cast<std::uint32_t>(b[at]) | static_cast<std::uint32_t>(b[at + 1]) << 8 |
           static_cast<std::uint32_t>(b[at + 2]) << 16 | static_cast<std::uint32_t>(b[at + 3]) << 24;
}
inline void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}
}  // namespace cipher_layout

struct EvpContextDeleter {
    void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using EvpContext = std::unique_ptr<EVP_CIPHER_CTX, EvpContextDeleter>;

inline const EVP_CIPHER* evp_cipher(const CipherKey& k) {
    switch (k.mode) {
        case EncMode::aes_gcm:
            return k.key.size() == 16 ? EVP_aes_128_gcm() : k.key.size() == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
        case EncMode::aes_cbc:
            return k.key.size() == 16 ? EVP_aes_128_cbc() : k.key.size() == 24 ? EVP_aes_192_cbc() : EVP_aes_256_cbc();
        case EncMode::sm4_cbc: return EVP_sm4_cbc();
    }
    return nullptr;
}

// Starts ctx for one block (enc: 1 encrypt, 0 decrypt); GCM keeps OpenSSL's 12-byte nonce.
inline EvpContext cipher_start(const CipherKey& k, const unsigned char* iv, int enc) {
    EvpContext ctx(EVP_CIPHER_CTX_new());
    const EVP_CIPHER* cipher = evp_cipher(k);
    if (!ctx || !cipher || EVP_CipherInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr, enc) != 1 ||
        EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, reinterpret_cast<const unsigned char*>(k.key.data()), iv, enc) != 1)
        throw Error("crypto: OpenSSL could not set up " + std::string(enc_mode_name(k.mode)) +
                    (k.mode == EncMode::sm4_cbc ? " (is SM4 enabled in this OpenSSL?)" : ""));
    return ctx;
}

inline std::vector<std::byte> openssl_encrypt(std::span<const std::byte> plain, const CipherKey& k) {
    using namespace cipher_layout;
    std::vector<std::byte> out;
    out.reserve(plain.size() + (plain.size() / cipher_plain_block_max + 1) * 80);
    std::size_t pos = 0;
    do {  // an empty plaintext is still one block, as MindSpore's
        const std::size_t n = std::min(cipher_plain_block_max, plain.size() - pos);
        unsigned char iv[iv_bytes];
        if (RAND_priv_bytes(iv, sizeof iv) != 1) throw Error("crypto: OpenSSL's random generator failed");
        auto ctx = cipher_start(k, iv, 1);
        std::vector<unsigned char> cipher(n + 16);
        int len = 0, fin = 0;
        if (EVP_CipherUpdate(ctx.get(), cipher.data(), &len, reinterpret_cast<const unsigned char*>(plain.data() + pos),
                             static_cast<int>(n)) != 1 ||
            EVP_CipherFinal_ex(ctx.get(), cipher.data() + len, &fin) != 1)
            throw Error("crypto: OpenSSL failed to encrypt with " + std::string(enc_mode_name(k.mode)));
        const auto cipher_len = static_cast<std::uint32_t>(len + fin);
        put_u32(out, cipher_magic_of(k.mode));
        if (k.mode == EncMode::aes_gcm) {
            unsigned char tag[tag_bytes];
            if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, tag_bytes, tag) != 1)
                throw Error("crypto: OpenSSL gave no GCM tag");
            for (const unsigned char c : tag) out.push_back(std::byte{c});
        }
        put_u32(out, static_cast<std::uint32_t>(4 + iv_bytes + 4) + cipher_len);
        put_u32(out, iv_bytes);
        for (const unsigned char c : iv) out.push_back(std::byte{c});
        put_u32(out, cipher_len);
        const auto* c = reinterpret_cast<const std::byte*>(cipher.data());
        out.insert(out.end(), c, c + cipher_len);
        pos += n;
    } while (pos < plain.size());
    return out;
}

inline std::vector<std::byte> openssl_decrypt(std::span<const std::byte> file, const CipherKey& k,
                                              const std::filesystem::path& path) {
    using namespace cipher_layout;
    std::vector<std::byte> plain;
    struct WipeUnlessDone {  // a failure part-way leaves no plaintext behind
        std::vector<std::byte>& bytes;
        bool done = false;
        ~WipeUnlessDone() {
            if (!done) OPENSSL_cleanse(bytes.data(), bytes.size());
        }
    } guard{plain};
    const std::string mode(enc_mode_name(k.mode));
    auto damaged = [&](std::size_t at, const std::string& what) {
        return FormatError(path, "encrypted block at byte " + std::to_string(at) + ": " + what +
                                     " (a cut or damaged file)");
    };
    plain.reserve(file.size());  // plaintext never outgrows its cipher blocks: no copy left behind by a regrowth
    std::size_t pos = 0;
    bool tagless = false;  // a <= 1.6 file: every block without its tag
    if (file.empty()) throw damaged(0, "the file is empty");
    while (pos < file.size()) {
        const auto block = file.subspan(pos);
        const auto announced = cipher_magic(block);
        if (!announced) throw damaged(pos, "no cipher magic");
        if (*announced != k.mode)
            throw DecryptError(path, "the file is encrypted with " + std::string(enc_mode_name(*announced)) +
                                         ", not " + mode + "; pass dec_mode = \"" +
                                         std::string(enc_mode_name(*announced)) + "\"");
        // where block_len sits: after the GCM tag, or right after the magic in a <= 1.6 file
        auto fits = [&](std::size_t len_at) {
            if (block.size() < len_at + 8 + iv_bytes + 4) return false;
            const std::size_t block_len = get_u32(block, len_at), iv_len = get_u32(block, len_at + 4);
            const std::size_t cipher_len = get_u32(block, len_at + 8 + iv_bytes);
            return iv_len == iv_bytes && block_len == 4 + iv_bytes + 4 + cipher_len &&
                   cipher_len <= cipher_plain_block_max + 16 && block.size() >= len_at + 4 + block_len;
        };
        const bool gcm = k.mode == EncMode::aes_gcm;
        if (pos == 0 && gcm && !fits(4 + tag_bytes) && fits(4)) {  // the first block decides for the file
            if (!k.allow_untagged)
                throw DecryptError(path, "AES-GCM blocks without their authentication tag (MindSpore <= 1.6): the "
                                         "content cannot be verified, a changed block would load as data; set "
                                         "allow_untagged_gcm to read it anyway");
            tagless = true;
        }
        const bool tagged = gcm && !tagless;
        const std::size_t len_at = 4 + (tagged ? tag_bytes : 0);
        if (!fits(len_at)) throw damaged(pos, "its lengths run past the end of the file or disagree");
        const unsigned char* iv = reinterpret_cast<const unsigned char*>(block.data() + len_at + 8);
        const std::size_t cipher_len = get_u32(block, len_at + 8 + iv_bytes);
        const auto* cipher = reinterpret_cast<const unsigned char*>(block.data() + len_at + 8 + iv_bytes + 4);
        auto ctx = cipher_start(k, iv, 0);
        const std::size_t at = plain.size();
        plain.resize(at + cipher_len + 16);
        int len = 0, fin = 0;
        auto* dst = reinterpret_cast<unsigned char*>(plain.data() + at);
        if (EVP_CipherUpdate(ctx.get(), dst, &len, cipher, static_cast<int>(cipher_len)) != 1)
            throw DecryptError(path, "OpenSSL could not decrypt the block at byte " + std::to_string(pos));
        if (tagged) {
            unsigned char tag[tag_bytes];
            std::memcpy(tag, block.data() + 4, tag_bytes);
            if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, tag_bytes, tag) != 1)
                throw Error("crypto: OpenSSL did not take the GCM tag");
        }
        const bool authenticated = !gcm || tagged;  // a tag-less GCM block has nothing to check
        if (authenticated && EVP_CipherFinal_ex(ctx.get(), dst + len, &fin) != 1)
            throw DecryptError(path, "decryption failed at the block at byte " + std::to_string(pos) +
                                         (gcm ? " (the AES-GCM tag does not match)" : " (the padding is wrong)") +
                                         ": a wrong dec_key or dec_mode, or a damaged file; nothing was loaded");
        plain.resize(at + static_cast<std::size_t>(len + fin));
        pos += len_at + 4 + get_u32(block, len_at);
    }
    guard.done = true;
    return plain;
}

}  // namespace mindsave::detail

namespace mindsave {

// Makes save_checkpoint's enc_key and load_checkpoint's dec_key use OpenSSL. Including this header does
// it before main (GCC and Clang initialise the variable below at start-up); a program whose only include
// of it sits in a static-library object nothing else references calls this itself. Idempotent.
inline void enable_encryption() noexcept {
    detail::cipher_hooks = detail::CipherHooks{&detail::openssl_encrypt, &detail::openssl_decrypt};
}

namespace detail {
inline const bool openssl_cipher_ready = (enable_encryption(), true);
}  // namespace detail

// The plaintext of a file MindSpore (or mindsave) encrypted with enc_key: a .ckpt's record stream or a
// MindIR's ModelProto. DecryptError on a wrong key or mode, FormatError on a cut or damaged file.
// allow_untagged_gcm: also MindSpore <= 1.6's AES-GCM files, which carry no tag (nothing is verified).
inline std::vector<std::byte> decrypt_file(const std::filesystem::path& path, std::string dec_key,
                                           std::string_view dec_mode = "AES-GCM", bool allow_untagged_gcm = false) {
    enable_encryption();
    CipherKey key(std::move(dec_key), dec_mode, "decrypt_file");
    key.allow_untagged = allow_untagged_gcm;
    const io::MappedFile file(path);
    if (!detail::cipher_magic(file.bytes()))
        throw FormatError(path, "is not encrypted (no MindSpore cipher block at its start)");
    return detail::openssl_decrypt(file.bytes(), key, path);
}

}  // namespace mindsave
