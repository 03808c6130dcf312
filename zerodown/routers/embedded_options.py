"""`router: {kind: embedded, ...}` options, checked with errors that name `router.<key>`.

    router: embedded                                        # the proxy, admin on a unix socket
    router: {kind: embedded, metrics: 127.0.0.1:9464}       # + a read-only /metrics for Prometheus
    router: {kind: embedded, metrics: 127.0.0.1:9464, metrics_token_env: ZD_METRICS_TOKEN}
    router: {kind: embedded, http2_prior_knowledge: true}   # h2c on the plain listener

    router: {kind: embedded, host: lb1, python: /opt/zerodown/bin/python}  # on a fleet host

`python` (with router.host) is the interpreter that runs the proxy there: it needs the
proxy's modules (uvloop, httptools, google-re2); zerodown's own code is uploaded.
`metrics_token_env` names a variable of the controller's environment whose value the
scraper must send as a bearer token; it is handed to the proxy in its environment, never
on its command line (which `ps` shows) nor in a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from zerodown.schema import ENV_NAME, address, boolean, driver_options, text


@dataclass(frozen=True)
class EmbeddedOptions:
    metrics: str | None = None  # HOST:PORT of the proxy's read-only /metrics listener
    metrics_token_env: str | None = None  # the controller's variable holding its bearer token
    python: str | None = None  # the interpreter on router.host (default python3)
    http2_prior_knowledge: bool = False  # serve HTTP/2 to clients that open with its preface

    def proxy_args(self) -> list[str]:
        """The `zerodown proxy` flags that say the same."""
        return ((["--metrics", self.metrics] if self.metrics else [])
                + (["--http2-prior-knowledge"] if self.http2_prior_knowledge else []))


PARSERS = {"metrics": address().parse,
           "metrics_token_env": text(ENV_NAME.pattern, "an environment variable name").parse,
           "python": text(r"^\S{1,1024}$", "an interpreter's name or path on router.host").parse,
           "http2_prior_knowledge": boolean().parse}


def parse_options(options: Mapping[str, Any], *, file: str | None = None,
                  lines: Mapping[str, int] | None = None) -> EmbeddedOptions:
    """EmbeddedOptions from `router:` options; a ConfigError naming router.<key> otherwise."""
    values, error = driver_options("router", "embedded", PARSERS, options, file=file,
                                   lines=lines)
    if "metrics_token_env" in values and "metrics" not in values:
        raise error("metrics_token_env", "protects the metrics listener: add router.metrics "
                                         "(HOST:PORT)")
    return EmbeddedOptions(**values)
