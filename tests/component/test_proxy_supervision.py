"""The proxy's supervisor: a killed serving process is back at once, with its table,
and no client is refused (zerodown/proxy/supervisor.py)."""

from __future__ import annotations

import os
import signal
import time

from zerodown.loadgen import LoadInBackground
from tests.support.net import port_open, wait_until
from tests.support.proxy import ProxyProcess, table_of

KILLS = 3


def serving(proxy: ProxyProcess) -> int | None:
    try:
        return proxy.serving_pid()
    except Exception:
        return None


def kill_serving_process(proxy: ProxyProcess) -> float:
    """SIGKILL the serving process; seconds until a new one answers the admin API."""
    old = proxy.serving_pid()
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: serving(proxy) not in (None, old), 5, "a new serving process")
    return time.monotonic() - t0


def test_a_killed_serving_process_is_restarted_at_once_and_no_retrying_client_fails(
        tmp_path, app_factory):
    proxy = ProxyProcess(tmp_path)
    try:
        apps = [app_factory("v1"), app_factory("v1")]
        proxy.start()
        proxy.apply(table_of(5, ("v1", 100, apps)))
        supervisor = proxy.proc.pid
        with LoadInBackground(proxy.url + "/", connections=16, duration=60,
                              retry_idempotent_once=True) as retrying, \
                LoadInBackground(proxy.url + "/", connections=4, duration=60) as raw:
            retrying.wait_for_responses(300)
            gaps = []
            for _ in range(KILLS):
                # every request in flight has its retry: a retry cut by the next kill would
                # have none (docs/proxy.md: retrying once absorbs one kill at a time)
                wait_until(lambda: retrying.unguarded() == 0, 10, "no request without a retry")
                gaps.append(kill_serving_process(proxy))
                retrying.wait_for_responses(retrying.progress()[0] + 300)
            retried, plain = retrying.stop(), raw.stop()
        print(f"restarts took {', '.join(f'{g * 1000:.0f} ms' for g in gaps)}; "
              f"retrying clients: {retried.summary()}; raw clients: {plain.summary()}")
        assert max(gaps) < 1.0, gaps
        assert retried.failed() == 0, retried.summary()
        assert retried.retried > 0  # the kills did cut requests in flight
        # a raw client loses at most the requests in flight at each kill, never a connect
        assert "connect refused" not in plain.errors, plain.summary()
        assert plain.failed() <= 4 * KILLS, plain.summary()
        assert proxy.admin.table().version == 5
        assert proxy.proc.alive and proxy.proc.pid == supervisor
        assert proxy.admin.health()["supervisor"] == supervisor
        assert proxy.proc.log().count("was killed by SIGKILL; restarting it") == KILLS
    finally:
        proxy.cleanup()


def test_with_its_supervisor_killed_the_proxy_serves_on_and_is_adopted_hitlessly(
        tmp_path, app_factory):
    proxy = ProxyProcess(tmp_path)
    try:
        proxy.start()
        proxy.apply(table_of(2, ("v1", 100, [app_factory("v1")])))
        with LoadInBackground(proxy.url + "/", connections=8, duration=60,
                              retry_idempotent_once=True) as load:
            load.wait_for_responses(200)
            orphan = proxy.serving_pid()
            proxy.proc.kill()  # SIGKILL the supervisor alone
            load.wait_for_responses(load.progress()[0] + 200)
            assert proxy.admin.health() == {"ok": True, "version": 2, "pid": orphan,
                                            "supervisor": None}
            proxy.start()  # a new supervisor takes the orphan's sockets over
            wait_until(lambda: proxy.admin.health()["supervisor"] == proxy.proc.pid, 5,
                       "the new supervisor serving")
            load.wait_for_responses(load.progress()[0] + 200)
            result = load.stop()
        assert result.failed() == 0, result.summary()
        wait_until(lambda: not _alive(orphan), 10, "the adopted process to drain and exit")
        assert proxy.admin.table().version == 2
    finally:
        proxy.cleanup()


def test_a_stopped_supervisor_stops_its_serving_process_and_closes_the_port(tmp_path):
    proxy = ProxyProcess(tmp_path)
    try:
        proxy.start()
        child = proxy.serving_pid()
        proxy.proc.signal(signal.SIGTERM)
        assert proxy.proc.wait(10) == 0
        wait_until(lambda: not _alive(child), 5, "the serving process gone")
        assert not port_open("127.0.0.1", proxy.port)
    finally:
        proxy.cleanup()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
