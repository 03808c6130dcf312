"""The controller's CPU per SSH packet, by cipher: why hosts/connections.py puts AES-GCM
before asyncssh's default, chacha20-poly1305.

    .venv/bin/python benchmarks/ssh_cipher.py [--packets 20000] [--size 240]

Encrypts packets of `size` bytes (a typical agent request or answer is 100-400) with
asyncssh's own cipher objects, as its connection does for each packet it sends; the
decryption of a received one costs about the same.
"""

from __future__ import annotations

import argparse
import os
import time

from asyncssh.encryption import get_encryption, get_encryption_params

CIPHERS = ("chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def per_packet(cipher: str, packets: int, size: int) -> float:
    """Microseconds to encrypt one packet of `size` bytes with `cipher`."""
    alg = cipher.encode()
    key_size, iv_size, _, _, _, etm = get_encryption_params(alg, b"")
    encryption = get_encryption(alg, os.urandom(key_size), os.urandom(iv_size), b"", b"", etm)
    header, data = os.urandom(4), os.urandom(size - 4)
    began = time.perf_counter()
    for seq in range(packets):
        encryption.encrypt_packet(seq, header, data)
    return (time.perf_counter() - began) / packets * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--size", type=int, default=240, help="bytes per packet")
    args = parser.parse_args()
    for cipher in CIPHERS:
        print(f"{cipher:32} {per_packet(cipher, args.packets, args.size):6.1f} us per "
              f"{args.size}-byte packet")


if __name__ == "__main__":
    main()
