"""One health probe of an instance: HTTP (path, expected status) or a TCP connect.

Shared by every runtime (zerodown/runtimes/health.py) and run by zerodown's agent on
the host where the load balancer runs (router.host), so an instance is judged as the
load balancer reaches it; standard library only. Each answers (ok, what was seen) in
words an operator can act on, e.g. "HTTP 503 from 127.0.0.1:41231/healthz (expected 200)".
"""

from __future__ import annotations

import http.client
import socket


def probe_address(address: str, tcp: bool, path: str, status: int, timeout: float,
                  host_header: str | None = None) -> tuple[bool, str]:
    """Probe `address` ("host:port") once: a TCP connect, or GET `path` expecting `status`
    (with this Host, if given)."""
    host, port = split_address(address)
    if tcp:
        return probe_tcp(host, port, timeout)
    return probe_http(host, port, path, status, timeout, host_header)


def probe_http(host: str, port: int, path: str, status: int, timeout: float,
               host_header: str | None = None) -> tuple[bool, str]:
    where = f"{host}:{port}{path}" + (f" (Host: {host_header})" if host_header else "")
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"User-Agent": "zerodown-health", "Connection": "close"}
    if host_header:
        headers["Host"] = host_header
    try:
        conn.request("GET", path, headers=headers)
        got = conn.getresponse().status
    except OSError as e:
        return False, _failure(e, where, timeout)
    except http.client.HTTPException as e:
        return False, f"no valid HTTP answer from {where} ({type(e).__name__}: {e})"
    finally:
        conn.close()
    if got != status:
        return False, f"HTTP {got} from {where} (expected {status})"
    return True, f"HTTP {got} from {where}"


def probe_tcp(host: str, port: int, timeout: float) -> tuple[bool, str]:
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, f"TCP connect to {where} succeeded"
    except OSError as e:
        return False, _failure(e, where, timeout)


def _failure(e: OSError, where: str, timeout: float) -> str:
    if isinstance(e, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(e, (TimeoutError, socket.timeout)):
        return f"no answer from {where} within {timeout:g}s"
    if isinstance(e, (ConnectionResetError, BrokenPipeError)):
        return f"connection reset by {where}"
    return f"cannot reach {where}: {e.strerror or e}"


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)
