"""What the API reads, refreshed by one thread: the status document (every TICK),
per-revision metrics (a point every INTERVAL, ten minutes kept) and the event log.

One thread asks the load balancer and the store; every API request and SSE
stream reads what it gathered, so a request never waits for a probe or the
proxy, and a hundred dashboards cost what one does.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator

from zerodown import table_json
from zerodown.config_model import ServiceConfig
from zerodown.controller import Controller, labels, maybe_label
from zerodown.gather import (_probed, _proxy, deployment_view, instance_view, may_route,
                             not_routed, shadow_view, table_traffic)
from zerodown.engine.store import Store
from zerodown.errors import ConfigError
from zerodown.latency import quantile
from zerodown.model import fleet_hosts
from zerodown.service_url import config_url
from zerodown.views import InstanceView, StatusView, status_dict

TICK = 0.25  # the status document is at most this old (a table change reaches SSE in < 1 s)
INTERVAL = 1.0  # one metrics point per revision per second
KEEP = 600  # points per revision: ten minutes
PROBE_EVERY = 1.0  # instance health probes (each may take up to a second)
EVENTS_KEPT = 2000
READERS = 4  # SQLite connections the API's threads share


class Observer:
    def __init__(self, ctl: Controller, dashboard: Callable[[], str | None]):
        self.ctl, self.dashboard = ctl, dashboard
        if ctl.watched is None:  # the daemon's is shared with its runs and requests
            ctl.watched = ctl.watch()
        self.cfg = self.started = ctl.working_config()
        self.service = self.cfg.service  # the controller's, for as long as it runs
        self.config_error: str | None = None  # the file's, while it does not load
        self._following = threading.Lock()
        self.store = ctl.open_store()  # the observer thread's own
        self._readers: queue.SimpleQueue = queue.SimpleQueue()  # the API threads' (WAL: they
        for _ in range(READERS):                                 # read while others write)
            self._readers.put(ctl.open_store())
        self.ticking = threading.Lock()  # one look at a time (the thread's, or a fresh one)
        self.changed = threading.Condition()
        self.status_doc: dict | None = None
        self.status_json = ""
        self.status_version = 0
        self.table: dict | None = None
        self.series: dict[str, deque] = {}
        self.events: deque = deque(maxlen=EVENTS_KEPT)
        self.last_event = self._newest_event()
        self.written = self.last_event  # the newest event this process's stores wrote
        self._sample: tuple[float, dict] | None = None
        self._probes: dict[str, InstanceView] = {}
        # why the runner cannot go on with a deployment, if it cannot (set by main.serve)
        self.controller_error: Callable[[int], str | None] = lambda id: None
        # (deployment, seconds to wait) -> no run holds it (daemon/runs.py Runner.settled)
        self.settled: Callable[[int, float], bool] = lambda id, wait: True
        self._probed_at = 0.0

    # --- the thread ------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        threading.Thread(target=self._probe_loop, args=(stop,), name="probes", daemon=True).start()
        while not stop.is_set():
            try:
                self.tick()
            except Exception as e:  # noqa: BLE001 - a failed look is retried next tick
                self._note(f"status: {type(e).__name__}: {e}")
            stop.wait(TICK)

    def tick(self, now: float | None = None) -> dict:
        """Look now; the status document."""
        with self.ticking:
            self._tick(time.time() if now is None else now)
        assert self.status_doc is not None  # (the first tick's text differs from "")
        return self.status_doc

    def _tick(self, now: float) -> None:
        self.store = self.ctl.fresh_store(self.store)
        events = self.store.events(after=self.last_event, limit=1000)
        doc, table, stats = self._status(now)
        text = json.dumps(doc, sort_keys=True)
        with self.changed:
            news = bool(events) or text != self.status_json
            for e in events:
                self.events.append(event_dict(e))
                self.last_event = e.id
            if stats is not None:
                self._sample_metrics(now, stats)
            if table is not None:
                self.table = table_json.to_dict(table)
            if text != self.status_json:
                self.status_doc, self.status_json = doc, text
                self.status_version += 1
            if news:
                self.changed.notify_all()

    def _status(self, now: float):
        cfg, store, service = self.config(), self.store, self.service
        known = labels(store, service)
        active = store.active_deployment(service)
        deployment = None if active is None else deployment_view(
            active, known, self.ctl.controller_pid(service), store, cfg,
            asked=store.askers([active.id]).get(active.id))
        proxy, table, stats = _proxy(self.ctl, cfg)
        if table is None:
            table = store.routing(service).table
        rates = {name: points[-1]["rps"] for name, points in
                 ((f"r{k}", v) for k, v in self.series.items()) if points}
        views = [instance_view(service, row, known, fleet_hosts(cfg.runtime)) for _, row in
                 sorted(store.instances(service, live=True).items())]
        if any(self._stale(v) for v in views):  # a new or moved instance: probe it now
            self._probes = {v.name: v for v in _probed(self.ctl, store, service, known)}
        instances = not_routed(tuple(placed(self._probes.get(v.name, v), v) for v in views),
                               may_route(proxy))
        view = StatusView(
            service, cfg.listen, maybe_label(known, store.stable(service)[0]), proxy, deployment,
            instances, tuple(table_traffic(table, known, stats, rates)) if proxy.running else (),
            deployed=bool(known), scheme=cfg.url.partition(":")[0], address=config_url(cfg),
            shadow=shadow_view(store, service, self.ctl.router(cfg) if proxy.running else None))
        doc = status_dict(view, now)
        doc["dashboard"] = self.dashboard()
        doc["config_error"] = self.config_error
        doc["restart_needed"] = restart_needed(self.started, cfg)
        doc["settled"] = self._settled(store, active)
        shown = {i.revision.number for i in instances} | {
            int(t.revision[1:]) for t in view.traffic if t.revision[1:].isdigit()}
        # those shown alone, by the primary key: every tick read every revision
        rows = [store.db.execute("SELECT number, version, created FROM revisions WHERE "
                                 "service = ? AND number = ?", (service, n)).fetchone()
                for n in sorted(shown)]
        doc["revisions"] = [{"revision": n, "version": v, "created": c} for n, v, c in
                            filter(None, rows)]
        return doc, table, stats

    def _settled(self, store, active) -> bool:
        """Whether the service's latest deployment ended and no run of this controller holds
        it (its last old instances, awaited after the phase is written, exited): the
        document's `deployment` is the active one, gone at the phase. True with none."""
        if active is not None:
            return False
        latest = store.deployments(self.service, limit=1)
        return not latest or self.settled(latest[0].id, 0)

    def config(self) -> ServiceConfig:
        """zerodown.yaml as it is now, read again only when it changed (config_watch.py), so
        an edit shows in status without a restart; the drivers follow it. While the file
        does not load (mid-edit, a typo), the last version that did, and its error said
        (`config_error`): the status of what runs is still worth showing."""
        with self._following:  # the tick's thread and the API's ask it
            try:
                cfg, self.config_error = self.ctl.config(), None
            except ConfigError as e:  # (not a revision's snapshot, made anew at each ask)
                watched = self.ctl.watched  # (the daemon's controller has one)
                last = watched.last_good if watched is not None else None
                cfg, self.config_error = last or self.cfg, str(e)
            if cfg is not self.cfg:
                self.ctl.follow(cfg)
                self.cfg = cfg
            return cfg

    def listed_hosts(self) -> tuple[str, ...]:
        """runtime.hosts as the file has it now: an instance whose host was taken off the
        list is `(not listed)` in status at once, as `plan` says."""
        return fleet_hosts(self.config().runtime)

    # --- metrics ---------------------------------------------------------------------------

    def _sample_metrics(self, now: float, stats: dict) -> None:
        revisions = stats.get("revisions", {})
        if self._sample is None:
            self._sample = (now, revisions)
            return
        then, before = self._sample
        if now - then < INTERVAL:
            return
        self._sample = (now, revisions)
        for name, c in revisions.items():
            if not name[1:].isdigit():
                continue
            b = before.get(name)
            if b is None:
                continue
            self.series.setdefault(name[1:], deque(maxlen=KEEP)).append(
                point(now, now - then, b, c))
        # a revision no longer served leaves once its last point is past the window: a
        # daemon that ran thousands of deployments kept a series for each revision
        for gone in [k for k, v in self.series.items() if v[-1]["t"] < now - KEEP * INTERVAL]:
            del self.series[gone]

    def metrics(self, window: float) -> dict:
        since = time.time() - window
        with self.changed:
            series = {k: [p for p in v if p["t"] >= since] for k, v in self.series.items()}
        return {"interval_s": INTERVAL, "series": {k: v for k, v in series.items() if v}}

    # --- probes ---------------------------------------------------------------------------

    def _probe_loop(self, stop: threading.Event) -> None:
        store = self.ctl.open_store()  # its own connection: probes take a while
        while not stop.is_set():
            try:
                store = self.ctl.fresh_store(store)
                known = labels(store, self.service)
                self._probes = {v.name: v for v in _probed(self.ctl, store, self.service, known)}
            except Exception as e:  # noqa: BLE001
                self._note(f"probes: {type(e).__name__}: {e}")
            stop.wait(PROBE_EVERY)

    def _stale(self, view: InstanceView) -> bool:
        seen = self._probes.get(view.name)
        return seen is None or (seen.address, seen.pid, seen.state) != (view.address, view.pid,
                                                                        view.state)

    @contextmanager
    def reading(self) -> Iterator[Store]:
        """A store connection of the API's small pool, for one request's reads."""
        store = self.ctl.fresh_store(self._readers.get())  # the file may have been replaced
        try:
            yield store
        finally:
            self._readers.put(store)

    # --- helpers --------------------------------------------------------------------------

    def _newest_event(self) -> int:
        row = self.store.db.execute("SELECT MAX(id) FROM events").fetchone()
        return row[0] or 0

    def _note(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    def wrote(self, event) -> None:
        """A store of this process committed `event` (Store.listeners, by way of every
        Controller the daemon builds): a request waiting for news hears it now, not at
        the next tick. Another process's events (an older CLI's) come with the ticks."""
        with self.changed:
            self.written = max(self.written, event.id)
            self.changed.notify_all()

    def newest(self) -> int:
        """The newest event id known here, written by this process or seen by a tick."""
        return max(self.last_event, self.written)

    def wait_events(self, cursor: int, timeout: float) -> int:
        """Until an event after `cursor` (an event id of any deployment) is known, at most
        `timeout` seconds; the newest id known then."""
        with self.changed:
            self.changed.wait_for(lambda: self.newest() > cursor, timeout)
            return self.newest()

    def wait(self, version: int, cursor: int, timeout: float) -> None:
        """Until the status document is newer than `version` or an event after `cursor`."""
        with self.changed:
            self.changed.wait_for(lambda: self.status_version != version or
                                  self.newest() > cursor, timeout)


def restart_needed(started: ServiceConfig, now: ServiceConfig) -> list[str]:
    """What the file changed that this controller takes only as it starts: the service it
    runs (its runner, watches, lock and API are that service's) and where its API listens."""
    notes = []
    if now.service != started.service:
        notes.append(f"service: zerodown.yaml now names {now.service}; this controller runs "
                     f"{started.service}, and shows it, until it is restarted")
    if now.controller.listen != started.controller.listen:
        notes.append(f"controller.listen: zerodown.yaml now says "
                     f"{now.controller.listen or 'none'}, in force when the controller is "
                     f"restarted (it started with {started.controller.listen or 'none'})")
    return notes


def placed(probed: InstanceView, view: InstanceView) -> InstanceView:
    """A probe's look at an instance, its host named as `view` (read now) names it: the
    probes' views were judged against the list the controller started with."""
    return dataclasses.replace(probed, host=view.host, host_listed=view.host_listed)


def point(now: float, dt: float, before: dict, after: dict) -> dict:
    """One metrics point from two looks at a revision's counters `dt` seconds apart."""
    requests = max(0, after["requests"] - before["requests"])
    bad = max(0, after["responses"]["5xx"] - before["responses"]["5xx"],  # (gather.failed)
              after["errors"] - before["errors"])
    p50 = p99 = None
    counts_after = after.get("buckets", {}).get("counts")
    counts_before = before.get("buckets", {}).get("counts")
    if counts_after and counts_before and len(counts_after) == len(counts_before):
        delta = [max(0, a - b) for a, b in zip(counts_after, counts_before)]
        bounds = after["buckets"]["bounds_s"]
        p50, p99 = (quantile(delta, q, bounds) for q in (0.5, 0.99))
    return {"t": round(now, 3), "rps": round(requests / dt, 2),
            "error_rate": round(bad / requests, 4) if requests else 0.0,
            "p50_ms": None if p50 is None else round(p50 * 1000, 3),
            "p99_ms": None if p99 is None else round(p99 * 1000, 3)}


def event_dict(e) -> dict:
    return {"id": e.id, "deployment": e.deployment, "time": e.time, "kind": e.kind,
            "text": e.message, **({"data": e.data} if e.data else {})}
