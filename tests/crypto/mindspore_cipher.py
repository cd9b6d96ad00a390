#!/usr/bin/env python3
"""MindSpore's enc_key block layout, written here from ../shared/spec/mindspore-formats.md section 1.7 with
python3-cryptography: the independent side of mindsave's encryption tests.

  mindspore_cipher.py encrypt MODE KEY_HEX PLAIN_IN CIPHER_OUT [BLOCK_BYTES]
  mindspore_cipher.py decrypt MODE KEY_HEX CIPHER_IN PLAIN_OUT

Blocks: magic u32 | tag[16] (AES-GCM only) | block_len u32 | iv_len u32 = 16 | iv[16] | cipher_len u32 | cipher,
little-endian; GCM's nonce is iv[:12], no AAD; CBC modes use PKCS#7. Exit 3 when decryption fails."""
import os
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = {"AES-GCM": 0x7F3A5ED8, "AES-CBC": 0x7F3A5ED9, "SM4-CBC": 0x7F3A5EDA}
BLOCK = 64 * 1024 * 1024


def cbc(mode, key, iv):
    algorithm = algorithms.SM4(key) if mode == "SM4-CBC" else algorithms.AES(key)
    return Cipher(algorithm, modes.CBC(iv))


def encrypt(mode, key, plain, block=BLOCK):
    out = bytearray()
    pos = 0
    while True:
        piece = plain[pos:pos + block]
        iv = os.urandom(16)
        if mode == "AES-GCM":
            sealed = AESGCM(key).encrypt(iv[:12], piece, None)
            cipher, tag = sealed[:-16], sealed[-16:]
            head = struct.pack("<I", MAGIC[mode]) + tag
        else:
            padder = padding.PKCS7(128).padder()
            padded = padder.update(piece) + padder.finalize()
            enc = cbc(mode, key, iv).encryptor()
            cipher = enc.update(padded) + enc.finalize()
            head = struct.pack("<I", MAGIC[mode])
        out += head + struct.pack("<II", 4 + 16 + 4 + len(cipher), 16) + iv + struct.pack("<I", len(cipher)) + cipher
        pos += block
        if pos >= len(plain):
            return bytes(out)


def decrypt(mode, key, data):
    out = bytearray()
    pos = 0
    while pos < len(data):
        (magic,) = struct.unpack_from("<I", data, pos)
        if magic != MAGIC[mode]:
            raise ValueError(f"block at {pos}: magic {magic:#x} is not {mode}")
        at = pos + 4
        tag = None
        if mode == "AES-GCM":
            tag = data[at:at + 16]
            at += 16
        block_len, iv_len = struct.unpack_from("<II", data, at)
        iv = data[at + 8:at + 8 + iv_len]
        (cipher_len,) = struct.unpack_from("<I", data, at + 8 + iv_len)
        cipher = data[at + 12 + iv_len:at + 12 + iv_len + cipher_len]
        if iv_len != 16 or block_len != 4 + iv_len + 4 + cipher_len or len(cipher) != cipher_len:
            raise ValueError(f"block at {pos}: lengths disagree")
        if mode == "AES-GCM":
            out += AESGCM(key).decrypt(iv[:12], cipher + tag, None)
        else:
            dec = cbc(mode, key, iv).decryptor()
            padded = dec.update(cipher) + dec.finalize()
            unpadder = padding.PKCS7(128).unpadder()
            out += unpadder.update(padded) + unpadder.finalize()
        pos = at + 4 + block_len
    return bytes(out)


def main(argv):
    command, mode, key_hex, src, dst = argv[1:6]
    key = bytes.fromhex(key_hex)
    data = open(src, "rb").read()
    try:
        if command == "encrypt":
            result = encrypt(mode, key, data, int(argv[6]) if len(argv) > 6 else BLOCK)
        else:
            result = decrypt(mode, key, data)
    except (InvalidTag, ValueError, struct.error) as e:
        print(f"decrypt failed: {e!r}", file=sys.stderr)
        return 3
    open(dst, "wb").write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
