"""`tls:` for the HAProxy router, rendered: pure text from the settings, no I/O.

HAProxy 2.6 wants a certificate and its key in one PEM file, so the router
writes one per certificate into its state directory (mode 0600, beside the
maps) and names them in a crt-list: the default certificate first (HAProxy
serves the first one to a name nothing else matches), then one line per
`certificates:` entry with its SNI names as filters. HAProxy reads them when
it starts or reloads; a renewed certificate is handed to it through the Runtime
API, at an apply or a refresh (haproxy_files.renew_commands, tls_refresh.py).
"""

from __future__ import annotations

from zerodown.proxy.tls import CIPHERS
from zerodown.tls_config import TlsSettings

CRT_LIST = "tls.crt-list"


def pem_files(tls: TlsSettings) -> list[tuple[str, str, str]]:
    """(file name in the state directory, certificate path, key path), default first."""
    pairs = [(tls.cert, tls.key)] + [(c.cert, c.key) for c in tls.certificates]
    return [(f"tls-{i}.pem", cert, key) for i, (cert, key) in enumerate(pairs)]


def crt_list_text(tls: TlsSettings, state_dir: str) -> str:
    names = [()] + [c.names for c in tls.certificates]
    return "".join(f"{state_dir}/{file}" + "".join(f" {n}" for n in filters) + "\n"
                   for (file, _, _), filters in zip(pem_files(tls), names))


def bind_options(tls: TlsSettings, state_dir: str) -> str:
    """What follows `bind HOST:PORT` on the TLS frontend."""
    alpn = "h2,http/1.1" if tls.http2 else "http/1.1"  # HAProxy speaks h2 to the client itself
    return (f" ssl crt-list {state_dir}/{CRT_LIST} alpn {alpn} ssl-min-ver TLSv1.2 "
            f"ciphers {CIPHERS}")


def redirect_frontend(service: str, tls: TlsSettings, listen: str) -> list[str]:
    """A frontend on `redirect_http` answering 308 to the same host and URI on https."""
    if not tls.redirect_http:
        return []
    port = listen.rsplit(":", 1)[1]
    host = "%[req.hdr(host),field(1,:)]" + ("" if port == "443" else f":{port}")
    return ["", f"frontend zd_{service}_redirect", f"    bind {tls.redirect_http}",
            "    http-request return status 400 content-type text/plain "
            'string "https is required, and a Host header to redirect to" '
            "if !{ req.hdr(host) -m found }",
            f"    http-request redirect location https://{host}%[capture.req.uri] code 308"]
