"""Shared fixtures. Helpers live in tests/support."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:      # `tests.support` and `zerodown` from a checkout
    sys.path.insert(0, str(ROOT))

from tests.support import ManagedProcess, start_app  # noqa: E402


@pytest.fixture
def app_factory():
    """start_app(...) that kills every app it started when the test ends."""
    started: list[ManagedProcess] = []

    def factory(version: str = "v1", port: int | None = None, env=None, **kwargs):
        proc = start_app(version, port, env, **kwargs)
        started.append(proc)
        return proc

    yield factory
    for proc in started:
        proc.cleanup()


@pytest.fixture
def proxy(tmp_path):
    """A started embedded proxy with an empty table; every process it ran is reaped."""
    from tests.support.proxy import ProxyProcess
    p = ProxyProcess(tmp_path)
    p.start()
    yield p
    p.cleanup()


def pytest_itemcollected(item):
    """With workers (scripts/test.sh: pytest-xdist, --dist loadgroup) the fleet's tests go
    to one worker: they share one test fleet (tests/fleet/conftest.py), whose bridge,
    namespaces and nft table have fixed names — two workers would build two and collide.
    Marked as each is collected: xdist reads the groups in its collection_modifyitems."""
    if Path(__file__).parent / "fleet" in Path(str(item.path)).parents:
        item.add_marker(pytest.mark.xdist_group("fleet"))


@pytest.hookimpl(trylast=True)   # after xdist's, which names each item's group in its id
def pytest_collection_modifyitems(config, items):
    """A group xdist did not take would let two workers build the fleet at once (the second
    waits on its lock until the test times out): stop the run at once, saying why."""
    if not config.getoption("loadgroup", default=False):
        return
    lost = [i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
    if lost:
        raise pytest.UsageError(f"pytest-xdist's --dist loadgroup did not group {lost[0]} "
                                f"(and {len(lost) - 1} more): pytest and pytest-xdist do not "
                                f"fit together (pyproject.toml's test extra says which)")
