"""The example service as zerodown deploys it: examples/app/app.py and a config for it.

Used by the demo, the benchmarks and the tests, so that they all deploy the
same thing the same way.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "examples" / "app" / "app.py"


def config_text(service: str, listen: str, *, instances: int = 4,
                strategy: str = "{kind: rolling, max_surge: 1, max_unavailable: 0}",
                health_interval: str = "50ms", start_timeout: str = "20s",
                drain_timeout: str = "10s", stop_grace: str = "5s", start_delay: float = 0,
                router: str | None = None) -> str:
    """A zerodown.yaml running the example app with this Python, fast health checks.
    `router`: the value of the router key in YAML flow style, e.g. "{kind: nginx}"."""
    router_line = f"router: {router}\n" if router else ""
    return textwrap.dedent(f"""\
        service: {service}
        listen: {listen}
        instances: {instances}
        app:
          command: ["{sys.executable}", "{APP}", "--port", "{{port}}", "--version", "{{version}}"]
          env: {{APP_DRAIN_TIMEOUT: "5", APP_START_DELAY: "{start_delay:g}"}}
        health: {{path: /healthz, interval: {health_interval}, timeout: 1s, start_timeout: {start_timeout}}}
        drain_timeout: {drain_timeout}
        stop_grace: {stop_grace}
        strategy: {strategy}
        on_failure: rollback
        """) + router_line
