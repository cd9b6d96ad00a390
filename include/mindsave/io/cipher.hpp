// MindSpore's encrypted files (enc_key / enc_mode) as the library sees them without a crypto library:
// the modes, the block magics, and the hooks mindsave/io/crypto.hpp fills in with OpenSSL's ciphers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/errors.hpp"

namespace mindsave {

// MindSpore's enc_mode values.
enum class EncMode { aes_gcm, aes_cbc, sm4_cbc };

inline constexpr std::string_view enc_mode_name(EncMode m) noexcept {
    switch (m) {
        case EncMode::aes_gcm: return "AES-GCM";
        case EncMode::aes_cbc: return "AES-CBC";
        case EncMode::sm4_cbc: return "SM4-CBC";
    }
    return "?";
}

// "AES-GCM" (MindSpore's default), "AES-CBC" or "SM4-CBC"; `who` names the caller in the error.
inline EncMode parse_enc_mode(std::string_view name, std::string_view who) {
    for (const EncMode m : {EncMode::aes_gcm, EncMode::aes_cbc, EncMode::sm4_cbc})
        if (name == enc_mode_name(m)) return m;
    throw ConfigError(std::string(who) + ": the encryption mode must be 'AES-GCM', 'AES-CBC' or 'SM4-CBC', but got '" +
                      std::string(name) + "'");
}

// A key and a mode, checked: AES takes 16, 24 or 32 bytes (AES-128/192/256), SM4 16; no key derivation,
// as MindSpore's (the key's bytes are the cipher key).
struct CipherKey {
    std::string key;
    EncMode mode = EncMode::aes_gcm;
    // MindSpore <= 1.6 wrote AES-GCM blocks without their tag: nothing can be verified, a changed or
    // forged block reads as data. Only when this is set are such files decrypted.
    bool allow_untagged = false;

    CipherKey(std::string k, std::string_view mode_name, std::string_view who)
        : key(std::move(k)), mode(parse_enc_mode(mode_name, who)) {
        const std::size_t n = key.size();
        const bool ok = mode == EncMode::sm4_cbc ? n == 16 : (n == 16 || n == 24 || n == 32);
        if (!ok)
            throw ConfigError(std::string(who) + ": a " + std::string(enc_mode_name(mode)) + " key must be " +
                              (mode == EncMode::sm4_cbc ? "16 bytes" : "16, 24 or 32 bytes") + ", but it has " +
                              std::to_string(n));
    }
};

namespace detail {

// Each cipher block starts with a little-endian magic naming its mode (MindSpore's crypto.cc).
inline constexpr std::uint32_t cipher_magic_of(EncMode m) noexcept {
    switch (m) {
        case EncMode::aes_gcm: return 0x7F3A5ED8u;
        case EncMode::aes_cbc: return 0x7F3A5ED9u;
        case EncMode::sm4_cbc: return 0x7F3A5EDAu;
    }
    return 0;
}
inline constexpr std::size_t cipher_plain_block_max = std::size_t{64} << 20;  // plaintext per block

// The mode an encrypted file's first bytes announce, or nothing for a plain file.
inline std::optional<EncMode> cipher_magic(std::span<const std::byte> head) noexcept {
    if (head.size() < 4) return std::nullopt;
    const std::uint32_t v = static_cast<std::uint32_t>(head[0]) | static_cast<std::uint32_t>(head[1]) << 8 |
                            static_cast<std::uint32_t>(head[2]) << 16 | static_cast<std::uint32_t>(head[3]) << 24;
    for (const EncMode m : {EncMode::aes_gcm, EncMode::aes_cbc, EncMode::sm4_cbc})
        if (v == cipher_magic_of(m)) return m;
    return std::nullopt;
}

// Overwrites key or plaintext bytes in a way the compiler keeps although the memory is freed next.
inline void wipe(std::span<std::byte> bytes) noexcept {
    volatile std::byte* p = bytes.data();
    for (std::size_t i = 0; i < bytes.size(); ++i) p[i] = std::byte{0};
}

// A reader met an encrypted file it was given no key for.
[[noreturn]] inline void throw_encrypted(const std::filesystem::path& path, EncMode mode, std::string_view what) {
    throw FormatError(path, "the " + std::string(what) + " is encrypted (" + std::string(enc_mode_name(mode)) +
                                ", MindSpore's enc_key); pass dec_key and dec_mode = \"" + std::string(enc_mode_name(mode)) +
                                "\" to load it");
}

// Filled in by mindsave/io/crypto.hpp (OpenSSL) when it is part of the program (or by its
// enable_encryption()); empty otherwise.
struct CipherHooks {
    std::vector<std::byte> (*encrypt)(std::span<const std::byte> plain, const CipherKey& key) = nullptr;
    std::vector<std::byte> (*decrypt)(std::span<const std::byte> file, const CipherKey& key,
                                      const std::filesystem::path& path) = nullptr;
};
inline CipherHooks cipher_hooks{};

inline const CipherHooks& require_cipher(std::string_view who) {
    if (!cipher_hooks.encrypt || !cipher_hooks.decrypt)
        throw ConfigError(std::string(who) + ": encryption needs mindsave's optional cipher component: "
                          "#include \"mindsave/io/crypto.hpp\" in the program and link mindsave::crypto (OpenSSL's "
                          "libcrypto, Debian libssl-dev)");
    return cipher_hooks;
}

// MindSpore's block stream of plain (blocks of at most 64 MiB, each with its own random IV).
inline std::vector<std::byte> encrypt_blocks(std::span<const std::byte> plain, const CipherKey& key, std::string_view who) {
    return require_cipher(who).encrypt(plain, key);
}
// The plaintext of a whole encrypted file; DecryptError on a wrong key or a damaged block.
inline std::vector<std::byte> decrypt_blocks(std::span<const std::byte> file, const CipherKey& key,
                                             const std::filesystem::path& path, std::string_view who) {
    return require_cipher(who).decrypt(file, key, path);
}

}  // namespace detail
}  // namespace mindsave
