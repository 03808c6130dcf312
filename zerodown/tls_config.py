"""zerodown.yaml's `tls:` section: the service's listener speaks https.

    tls:
      cert: certs/shop.pem            # the default certificate (PEM chain) and its key
      key: certs/shop.key
      certificates:                   # more, picked by the name the client asks for (SNI)
        - names: [api.example.com, "*.api.example.com"]
          cert: certs/api.pem
          key: certs/api.key
      redirect_http: 0.0.0.0:80       # a plain listener answering 308 to https
      http2: true                     # ALPN offers h2 before http/1.1 (default false)
      check_every: 30s                # the controller looks for renewed files (tls_refresh.py)

Relative paths are read from zerodown.yaml's directory. Every name must be a host
name (checked here). What the files hold (readable, a PEM chain, the key its
certificate's) is checked where they are used (config_files.py: `validate`, `up`, a
deployment), not at every load: a renewal gone wrong must not fail `status` or `down`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from zerodown.proxy.tls import HOST_NAME, CertFiles, TlsConfig
from zerodown.schema import Invalid, Kind, address, boolean, duration, optional, shown, text
from zerodown.schema_sections import Context, Section, list_of, nested


@dataclass(frozen=True)
class NamedCert:
    names: tuple[str, ...]
    cert: str
    key: str


@dataclass(frozen=True)
class TlsSettings:
    cert: str
    key: str
    certificates: tuple[NamedCert, ...] = ()
    redirect_http: str | None = None  # HOST:PORT of the plain listener that redirects
    http2: bool = False  # HTTP/2 to clients (ALPN h2); backends still get HTTP/1.1
    check_every: float = 30.0  # seconds between the controller's looks for renewed files

    def proxy_config(self) -> TlsConfig:
        return TlsConfig(CertFiles(self.cert, self.key),
                         tuple(CertFiles(c.cert, c.key, c.names) for c in self.certificates),
                         self.http2)

    def proxy_args(self) -> list[str]:
        """The `zerodown proxy` flags that say the same."""
        args = ["--tls-cert", self.cert, "--tls-key", self.key]
        for c in self.certificates:
            args += ["--tls-sni", f"{','.join(c.names)}={c.cert},{c.key}"]
        return (args + (["--redirect-http", self.redirect_http] if self.redirect_http else [])
                + (["--http2"] if self.http2 else []))


def _names(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not v:
        raise Invalid(f'must be a list of host names like ["api.example.com", '
                      f'"*.api.example.com"], got {shown(v)}')
    out = []
    for name in v:
        low = name.strip().lower().rstrip(".") if isinstance(name, str) else ""
        if not HOST_NAME.match(low):
            raise Invalid(f"{shown(name)} is not a host name (like api.example.com or "
                          f"*.example.com)")
        out.append(low)
    return tuple(out)


_FILE = text(None, "a file path")
NAMED = Section(NamedCert, {"names": Kind(_names, {"type": "array", "items": {"type": "string"},
                                                   "minItems": 1}),
                            "cert": _FILE, "key": _FILE},
                "a certificate for these host names (SNI)")
SECTION = Section(TlsSettings, {"cert": _FILE, "key": _FILE,
                                "certificates": list_of(NAMED, NAMED.schema),
                                "redirect_http": optional(address()), "http2": boolean(),
                                "check_every": duration(1, 12 * 3600)},
                  "the listener speaks https with these certificates")


def _parse(ctx: Context, v: Any, path: str) -> TlsSettings | None:
    if v is None:
        return None
    errors = len(ctx.errors)
    tls = SECTION(ctx, v, path)
    if len(ctx.errors) > errors:
        return tls
    base = os.path.dirname(os.path.abspath(ctx.file)) if ctx.file else os.getcwd()
    place = lambda p: os.path.join(base, os.path.expanduser(p))  # noqa: E731 (absolute stays)
    return TlsSettings(place(tls.cert), place(tls.key),
                       tuple(NamedCert(c.names, place(c.cert), place(c.key))
                             for c in tls.certificates), tls.redirect_http, tls.http2,
                       tls.check_every)


parse_tls = nested(_parse, {"anyOf": [SECTION.schema, {"type": "null"}]})
