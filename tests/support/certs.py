"""Certificates the tests make themselves (openssl from Debian): one CA, leaves it signs."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Leaf:
    cert: Path
    key: Path
    serial: str  # the certificate's serial, to tell which one a server presented


def _openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


class TestCA:
    """A throwaway certificate authority in `directory`; `ca` is the file clients trust."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca, self.ca_key = self.dir / "ca.pem", self.dir / "ca.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-days", "2", "-subj", "/CN=zerodown test CA",
                 "-keyout", str(self.ca_key), "-out", str(self.ca))
        self.count = 0

    def leaf(self, *names: str, stem: str | None = None) -> Leaf:
        """A certificate for `names` (DNS SANs, wildcards allowed), written atomically."""
        self.count += 1
        stem = stem or f"leaf{self.count}"
        key, csr, ext = (self.dir / f"{stem}.key.new", self.dir / f"{stem}.csr",
                         self.dir / f"{stem}.ext")
        cert = self.dir / f"{stem}.pem.new"
        ext.write_text("subjectAltName=" + ",".join(f"DNS:{n}" for n in names)
                       + "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", f"/CN={names[0]}", "-keyout", str(key), "-out", str(csr))
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(self.ca_key),
                 "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))
        serial = _openssl("x509", "-in", str(cert), "-noout", "-serial").strip().split("=")[1]
        final_key, final_cert = self.dir / f"{stem}.key", self.dir / f"{stem}.pem"
        os.replace(key, final_key)  # key first: a reader polling the cert sees a matching pair
        os.replace(cert, final_cert)
        return Leaf(final_cert, final_key, serial.lower())
