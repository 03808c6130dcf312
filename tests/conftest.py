"""Shared fixtures. Helpers live in tests/support."""

import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:      # `tests.support` and `zerodown` from a checkout
    sys.path.insert(0, str(ROOT))

from tests.support import ManagedProcess, start_app  # noqa: E402


def pytest_configure(config):
    """In every worker too. Ctrl-C's SIGINT reaches the processes the tests start as a
    user's would: a run started as a background job of a script (`bash .ci/run &`, nohup)
    ignores SIGINT, its children inherit that, and a Python started with SIGINT ignored
    has no KeyboardInterrupt: every test that stops a command by SIGINT failed, waiting.
    A handler (not SIG_IGN) is reset to the default by a child's exec."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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


@pytest.hookimpl(optionalhook=True)   # a hook of pytest-xdist's (scripts/test.sh: -n 2)
def pytest_xdist_make_scheduler(config, log):
    """With workers, the fleet's tests go to one worker, in order: they share one test
    fleet (tests/fleet/conftest.py), whose bridge, namespaces and nft table have fixed
    names and a machine-wide lock — on two workers, the second would wait on the first's
    lock until its tests time out. Every other test is a unit of its own, as with `load`.
    (Not xdist_group marks with --dist loadgroup: xdist 3.8 names their group through
    item._nodeid, which pytest 9.2 no longer reads.)"""
    if config.getvalue("dist") != "load":
        return None   # a --dist of the user's own
    from xdist.scheduler import LoadScopeScheduling

    class FleetTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/fleet" if nodeid.startswith("tests/fleet/") else nodeid
    return FleetTogether(config, log)
