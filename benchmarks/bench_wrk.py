"""wrk runs and their figures: req/s, latency percentiles, errors, CPU per request."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from bench_children import pinned

LUA = Path(__file__).resolve().parent / "browser_headers.lua"
WRK = "wrk"


@dataclass
class Result:
    target: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    warmup_requests: int
    socket_errors: int
    non_2xx: int
    # CPU time of the proxy's processes during the measured run, per completed request
    cpu_us_per_req: float | None = None
    user_us_per_req: float | None = None
    sys_us_per_req: float | None = None

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()
    return float(number) * UNITS_MS[unit]


def parse_wrk(target: str, connections: int, out: str, warmup_requests: int = 0) -> Result:
    def find(pattern: str, default=None):
        match = re.search(pattern, out, re.MULTILINE)
        if match is None and default is None:
            raise RuntimeError(f"could not find /{pattern}/ in wrk output:\n{out}")
        return match.group(1) if match else default
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Result(
        target=target, connections=connections,
        rps=float(find(r"^Requests/sec:\s+([\d.]+)")),
        p50_ms=to_ms(find(r"^\s+50%\s+(\S+)")),
        p99_ms=to_ms(find(r"^\s+99%\s+(\S+)")),
        requests=count_requests(out), warmup_requests=warmup_requests,
        socket_errors=sum(map(int, sock.groups())) if sock else 0,
        non_2xx=int(find(r"Non-2xx or 3xx responses: (\d+)", "0")))


def count_requests(out: str) -> int:
    match = re.search(r"^\s+(\d+) requests in", out, re.MULTILINE)
    return int(match.group(1)) if match else 0


def run_wrk(port: int, connections: int, duration: float, lua: Path | None = None) -> str:
    argv = [WRK, "-t", "1", "-c", str(connections), "-d", f"{duration:g}s", "--latency",
            "--timeout", "5s", "-s", str(lua or LUA), f"http://127.0.0.1:{port}/"]
    done = subprocess.run(pinned("load", argv), capture_output=True, text=True,
                          timeout=duration + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def with_cpu(result: Result, used: tuple[float, float, int] | None) -> Result:
    if used is None or not result.requests:
        return result
    user, system, _ = used
    per = 1e6 / result.requests
    return replace(result, cpu_us_per_req=(user + system) * per,
                   user_us_per_req=user * per, sys_us_per_req=system * per)


def fmt_us(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"
