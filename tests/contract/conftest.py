"""The drivers the contract suites run against, one factory each.

Every Runtime and Router zerodown ships must pass test_runtime_contract.py /
test_router_contract.py; the fakes in zerodown.fakes pass them too, which is
what lets the engine's tests on fakes speak for the real drivers.

To add a driver, write a factory and register it below:

    @contextmanager
    def local_runtime(tmp_path):          # zerodown/runtimes/local.py
        runtime = LocalRuntime(state_dir=tmp_path, ...)
        try:
            yield RuntimeHarness(runtime,
                                 revision=lambda n: Revision("contract", n, f"v{n}",
                                                             app=<examples/app command>,
                                                             health=HealthConfig(...)),
                                 restart=lambda: LocalRuntime(state_dir=tmp_path, ...),
                                 wait=waiter(SystemClock()))
        finally:
            ...stop everything it started...

    RUNTIMES["local"] = local_runtime

    @contextmanager
    def embedded_router(tmp_path):        # zerodown/routers/embedded.py
        # start the proxy and three backends (tests/support: ProxyProcess, start_app)
        yield RouterHarness(router=EmbeddedRouter(admin), addresses=[...three apps...],
                            table=AdminClient(admin).table, send=<n GETs through the listener>,
                            wait=waiter(SystemClock()))

    ROUTERS["embedded"] = embedded_router

A factory takes pytest's tmp_path, yields a harness, and on exit leaves
nothing running. Real drivers wait in real time (bounded by `wait`'s
timeout); the fakes wait on a FakeClock, so their runs take microseconds.
Run one driver alone with `pytest tests/contract -k local`.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import pytest

from zerodown.config import AppConfig, HealthConfig
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime
from zerodown.model import Revision, RoutingTable
from zerodown.protocols import Clock, Router, Runtime

SERVICE = "contract"


@dataclass
class RuntimeHarness:
    runtime: Runtime
    revision: Callable[[int], Revision]  # revision number -> one whose instances become healthy
    restart: Callable[[], Runtime]  # the same machine, as a freshly started controller sees it
    wait: Callable[[Callable[[], bool], float], bool]  # poll until true; False after the timeout


@dataclass
class RouterHarness:
    router: Router
    addresses: list[str]  # at least three backends that answer HTTP 200
    table: Callable[[], RoutingTable]  # the table the load balancer serves now
    send: Callable[[int], None]  # n requests through the load balancer, all answered
    wait: Callable[[Callable[[], bool], float], bool]


def waiter(clock: Clock, poll: float = 0.05) -> Callable[[Callable[[], bool], float], bool]:
    def wait(condition: Callable[[], bool], timeout: float) -> bool:
        deadline = clock.now() + timeout
        while not condition():
            if clock.now() >= deadline:
                return False
            clock.sleep(poll)
        return True
    return wait


@contextmanager
def fake_runtime(tmp_path) -> Iterator[RuntimeHarness]:
    runtime = FakeRuntime(healthy_after=3)
    yield RuntimeHarness(runtime, lambda n: Revision(SERVICE, n, f"v{n}", AppConfig(("app",)),
                                                     HealthConfig()),
                         runtime.restarted, waiter(FakeClock()))


@contextmanager
def fake_router(tmp_path) -> Iterator[RouterHarness]:
    router = FakeRouter(drain_polls=2)
    yield RouterHarness(router, [f"127.0.0.1:{41001 + i}" for i in range(3)],
                        lambda: router.table, router.serve, waiter(FakeClock()))


def _service_config(folder):
    from zerodown import example
    from zerodown.config import parse_config
    from tests.support.net import free_port
    path = folder / "zerodown.yaml"
    path.write_text(example.config_text(SERVICE, f"127.0.0.1:{free_port()}", instances=2,
                                        start_timeout="10s", stop_grace="3s"))
    return parse_config(path.read_text(), file=str(path))


@contextmanager
def local_runtime(tmp_path) -> Iterator[RuntimeHarness]:
    from zerodown.engine.runner import SystemClock
    from zerodown.runtimes.local import LocalRuntime
    config = _service_config(tmp_path)
    runtime = LocalRuntime(tmp_path / "state", config)
    try:
        yield RuntimeHarness(runtime, lambda n: Revision(SERVICE, n, f"v{n}", config.app, config.health),
                             lambda: LocalRuntime(tmp_path / "state", config), waiter(SystemClock()))
    finally:
        for instance in LocalRuntime(tmp_path / "state", config).adopt(SERVICE):
            runtime.stop(instance, grace=3)


@contextmanager
def real_router(make: Callable[[str], Router], table: Callable[[Router], Callable],
                counted: Callable[[Router], int] | None = None) -> Iterator[RouterHarness]:
    """A real load balancer in front of three example apps, on a free port.
    `counted(router)`: the requests its stats have counted, for a router whose counts
    lag its responses (nginx logs a request just after the response went out)."""
    from zerodown.engine.runner import SystemClock
    from zerodown.loadgen import run_load_sync
    from tests.support.net import free_port, wait_until
    from tests.support.procs import start_app
    apps = [start_app("v1") for _ in range(3)]
    listen = f"127.0.0.1:{free_port()}"
    router = make(listen)
    try:
        router.ensure_running()

        def send(n: int) -> None:
            before = counted(router) if counted else 0
            result = run_load_sync(f"http://{listen}/", connections=2, requests=n)
            assert result.failed() == 0, result.summary()
            if counted:
                wait_until(lambda: counted(router) >= before + n, 5.0, f"{n} requests counted")
        yield RouterHarness(router, [f"127.0.0.1:{a.port}" for a in apps], table(router),
                            send, waiter(SystemClock()))
    finally:
        router.stop()
        for app in apps:
            app.cleanup()


def embedded_router(tmp_path):
    from zerodown.routers.embedded import EmbeddedRouter
    return real_router(lambda listen: EmbeddedRouter(tmp_path / "proxy", listen),
                       lambda router: router.client.table)


def nginx_router(tmp_path):
    """zerodown/routers/nginx.py in managed mode: a real nginx master of its own."""
    from zerodown.routers.nginx import NginxRouter

    def counted(router) -> int:
        stats = router.stats()
        return stats["rejected"] + sum(r["requests"] for r in stats["revisions"].values())
    return real_router(lambda listen: NginxRouter(tmp_path / "nginx", listen, service=SERVICE),
                       lambda router: router.table, counted)


def haproxy_router(tmp_path):
    """zerodown/routers/haproxy.py in managed mode: a real HAProxy master-worker of its own."""
    from zerodown.routers.haproxy import HAProxyRouter
    return real_router(lambda listen: HAProxyRouter(tmp_path / "haproxy", listen,
                                                    service=SERVICE),
                       lambda router: router.table)


RUNTIMES: dict[str, Callable] = {"fake": fake_runtime, "local": local_runtime}
ROUTERS: dict[str, Callable] = {"fake": fake_router, "embedded": embedded_router,
                                "nginx": nginx_router, "haproxy": haproxy_router}


def _factory(request, tmp_path, drivers: dict[str, Callable]):
    with ExitStack() as stack:
        made = iter(range(1000))

        def make():
            path = tmp_path / f"{request.param}-{next(made)}"
            path.mkdir()
            return stack.enter_context(drivers[request.param](path))
        yield make


@pytest.fixture(params=sorted(RUNTIMES))
def runtime_factory(request, tmp_path):
    """make() -> a RuntimeHarness for the driver under test; all are torn down after the test."""
    yield from _factory(request, tmp_path, RUNTIMES)


@pytest.fixture(params=sorted(ROUTERS))
def router_factory(request, tmp_path):
    """make() -> a RouterHarness for the driver under test; all are torn down after the test."""
    yield from _factory(request, tmp_path, ROUTERS)
