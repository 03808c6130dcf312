"""The whole control plane on real parts, for e2e tests: a zerodown.yaml in a
temp dir, the SQLite store, local processes, the embedded proxy, a real clock."""

from __future__ import annotations

from pathlib import Path

from zerodown import example
from zerodown.analysis import judge_for
from zerodown.config import load_config
from zerodown.engine.runner import Engine, SystemClock
from zerodown.engine.store import Store
from zerodown.routers import router_for
from zerodown.runtimes import runtime_for
from tests.support.net import free_port


def write_config(folder: Path, *, instances: int = 3,
                 strategy: str = "{kind: rolling, max_surge: 1, max_unavailable: 0}",
                 port: int | None = None) -> Path:
    path = folder / "zerodown.yaml"
    path.write_text(example.config_text("shop", f"127.0.0.1:{port or free_port()}",
                                        instances=instances, strategy=strategy,
                                        health_interval="100ms", start_timeout="10s",
                                        drain_timeout="5s", stop_grace="3s"))
    return path


class Stack:
    def __init__(self, config_path: Path, state_dir: Path):
        self.config = load_config(str(config_path))
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(str(state_dir / "zerodown.db"))
        self.runtime = runtime_for(self.config, state_dir)
        self.router = router_for(self.config, state_dir)
        self.router.ensure_running()
        clock = SystemClock()
        self.judge = judge_for(self.config, self.router, clock, lambda kind, text, deployment:
                               self.store.event(self.config.service, kind, text, deployment))
        self.engine = Engine(self.store, self.runtime, self.router, clock, self.config,
                             judge=self.judge)

    @property
    def url(self) -> str:
        return f"http://{self.config.listen}/"

    def deploy(self, version: str, **kwargs):
        return self.engine.run(self.engine.deploy(version, **kwargs))

    def pids(self) -> set[int]:
        return {i.pid for i in self.runtime.adopt(self.config.service) if i.pid}

    def close(self) -> None:
        for instance in self.runtime.adopt(self.config.service):
            self.runtime.stop(instance, grace=3)
        self.router.stop()
        self.store.close()
