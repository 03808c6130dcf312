"""TLS termination for the embedded proxy: certificates per host name (SNI), reloaded live.

    zerodown proxy --listen 0.0.0.0:443 --tls-cert site.pem --tls-key site.key \\
        --tls-sni 'api.example.com,*.api.example.com=api.pem,api.key' --redirect-http 0.0.0.0:80

One listening context carries the default certificate and an SNI callback.
OpenSSL calls the callback for every ClientHello (with the name the client
sent, or None), and the callback points the connection at the context of the
current certificate set. A reload builds a whole new set and swaps it in with
one assignment: handshakes from then on use the new certificates, connections
already up keep theirs, and no request fails. A set that does not load (a
half-written file, a key that does not match) leaves the old one in force and
says why; the next change is tried again.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from zerodown.errors import UsageError

if TYPE_CHECKING:  # ssl is imported by server_context: a config's tls section reads this
    import ssl      # module, and a config without certificates needs no ssl

# Mozilla's "intermediate" TLS 1.2 suites (TLS 1.3 suites are OpenSSL's, all modern).
CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
           "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
           "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
WATCH_INTERVAL = 1.0  # seconds between looks at the certificate files' mtimes
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
HOST_NAME = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")


@dataclass(frozen=True)
class CertFiles:
    cert: str
    key: str
    names: tuple[str, ...] = ()  # () for the default certificate


@dataclass(frozen=True)
class TlsConfig:
    default: CertFiles
    by_name: tuple[CertFiles, ...] = ()
    http2: bool = False  # ALPN offers h2 before http/1.1 (h2session.py serves it)

    def alpn(self) -> list[str]:
        return ["h2", "http/1.1"] if self.http2 else ["http/1.1"]

    def files(self) -> list[str]:
        return [p for c in (self.default, *self.by_name) for p in (c.cert, c.key)]


def check_name(name: str, where: str) -> str:
    """A host name a certificate serves: `api.example.com` or `*.example.com`."""
    low = name.strip().lower().rstrip(".")
    if not HOST_NAME.match(low):
        raise UsageError(f"{where}: {name!r} is not a host name (like api.example.com or "
                         f"*.example.com)")
    return low


def parse_sni(spec: str) -> CertFiles:
    """`NAME[,NAME...]=CERT,KEY` (--tls-sni)."""
    names, sep, files = spec.partition("=")
    cert, comma, key = files.rpartition(",")
    if not sep or not comma or not cert or not key or not names:
        raise UsageError(f"--tls-sni: expected NAME[,NAME...]=CERT,KEY like "
                         f"'api.example.com,*.api.example.com=api.pem,api.key', got {spec!r}")
    return CertFiles(cert, key, tuple(check_name(n, "--tls-sni") for n in names.split(",")))


def server_context(files: CertFiles, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A TLS 1.2+ server context with modern suites; UsageError naming the file if it fails.

    `alpn` is set on every context, the SNI-picked ones too: OpenSSL chooses the
    protocol after the SNI callback swapped the context in."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    ctx.set_alpn_protocols(alpn or ["http/1.1"])
    for path in (files.cert, files.key):
        if not os.access(path, os.R_OK):
            raise UsageError(f"TLS: cannot read {path!r}: "
                             + ("no such file" if not os.path.exists(path) else "permission denied"))
    try:
        ctx.load_cert_chain(files.cert, files.key)  # also checks that the key matches the cert
    except ssl.SSLError as e:
        raise UsageError(f"TLS: certificate {files.cert!r} with key {files.key!r} does not load "
                         f"({e.reason or e}): a PEM certificate chain and its own private key "
                         f"are needed") from None
    return ctx


class CertSet:
    """The contexts of one load of every certificate, looked up by SNI name."""

    def __init__(self, config: TlsConfig):
        self.default = server_context(config.default, config.alpn())
        self.exact: dict[str, ssl.SSLContext] = {}
        self.wildcard: dict[str, ssl.SSLContext] = {}  # "example.com" for *.example.com
        for files in config.by_name:
            ctx = server_context(files, config.alpn())
            for name in files.names:
                if name.startswith("*."):
                    self.wildcard.setdefault(name[2:], ctx)
                else:
                    self.exact.setdefault(name, ctx)

    def pick(self, name: str | None) -> ssl.SSLContext:
        """Exact name first, then `*.` one label deep (as certificates match), else default."""
        if name:
            name = name.lower().rstrip(".")
            ctx = self.exact.get(name)
            if ctx is not None:
                return ctx
            parent = name.partition(".")[2]
            ctx = self.wildcard.get(parent) if parent else None
            if ctx is not None:
                return ctx
        return self.default


def _stamp(paths: list[str]) -> tuple:
    out: list[tuple[int, int, int] | None] = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


class Terminator:
    """The listening context and the certificate set in force; `reload` swaps a new one in."""

    def __init__(self, config: TlsConfig, log: Callable[[str], None]):
        self.config, self.log = config, log
        self.stamp = _stamp(config.files())
        self.certs = CertSet(config)  # a bad start is a UsageError: the proxy does not start
        self.reloads = 0
        self.context = server_context(config.default, config.alpn())
        self.context.sni_callback = self._on_hello  # tls_transport.py's SSLSockets call it

    def _on_hello(self, sslobj: ssl.SSLSocket | ssl.SSLObject, name: str | None,
                  _ctx: ssl.SSLContext) -> None:
        sslobj.context = self.certs.pick(name)

    def reload(self) -> bool:
        """Load every certificate again; True if the new set is in force."""
        self.stamp = _stamp(self.config.files())
        try:
            certs = CertSet(self.config)
        except UsageError as e:
            self.log(f"certificates not reloaded, the previous ones stay: {e}")
            return False
        self.certs = certs
        self.reloads += 1
        self.log(f"certificates reloaded ({len(self.config.files()) // 2} "
                 f"certificate(s))")
        return True

    def reload_if_changed(self) -> bool:
        """The watcher's tick: reload when any file's mtime, size or inode moved."""
        if _stamp(self.config.files()) == self.stamp:
            return False
        return self.reload()


def config_from_args(cert: str | None, key: str | None, sni: list[str],
                     http2: bool = False) -> TlsConfig | None:
    if not cert and not key and not sni:
        return None
    if not cert or not key:
        raise UsageError("TLS needs both --tls-cert and --tls-key (the default certificate)")
    return TlsConfig(CertFiles(cert, key), tuple(parse_sni(s) for s in sni), http2)
