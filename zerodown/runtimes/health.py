"""One health probe of an instance as zerodown.yaml's `health:` says (zerodown/hosts/probe.py
does it: the agent on a load balancer's host runs the same code)."""

from __future__ import annotations

from zerodown.config import HealthConfig
from zerodown.hosts.probe import probe_address, probe_http, probe_tcp, split_address

__all__ = ["probe", "probe_http", "probe_tcp", "split_address"]


def probe(address: str, health: HealthConfig, host_header: str | None = None) -> tuple[bool, str]:
    """Probe `address` ("host:port") once as `health` says (with this Host, if given)."""
    return probe_address(address, health.tcp, health.path, health.status, health.timeout,
                         host_header)
