"""Wiring: zerodown.yaml → Store + runtime + router + clock → Engine.

    ctl = Controller("zerodown.yaml")          # state in .zerodown/ beside the file
    engine = ctl.engine()                       # the config read afresh, drivers built from it

What the CLI shows of the service is gathered from it by gather.py.

The process model: the controller daemon (zerodown/daemon/) runs every
deployment; whoever runs one holds the service's lock file (Engine._lock, a
flock the kernel drops when the process dies), so "is a controller running
it?" is answered by who holds that lock (lock_holder).
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import yaml

from zerodown import views
from zerodown.analysis import judge_for
from zerodown.config import ServiceConfig, apply_overrides, load_config, parse_config
from zerodown.config_watch import WatchedConfig
from zerodown.engine.finishing import Finishing
from zerodown.engine.recovery import recover
from zerodown.engine.runner import Engine, SystemClock
from zerodown.engine.service_lock import lock_holder
from zerodown.engine.steps import MAX_PARALLEL
from zerodown.engine.records import Event
from zerodown.engine.store import Store
from zerodown.errors import ConfigError, HostFailure, UsageError
from zerodown.routers import router_for
from zerodown.runtimes import runtime_for

RealClock = SystemClock  # the engine's real clock: wall time, so records outlive a restart


class Controller:
    """One command's view of a service: its config (read once; in the daemon, as the file
    is now: `watched`), state dir and drivers."""

    def __init__(self, file: str = "zerodown.yaml", state_dir: str | None = None,
                 kept=None, on_event: Callable[[Event], None] | None = None,
                 watched: WatchedConfig | None = None):
        self.file = file
        self.kept = kept  # the daemon's KeptConnections (runtimes/kept.py), or None
        self.on_event = on_event  # told each event its stores write (the daemon's observer)
        self.path = os.path.abspath(file)
        default = os.path.join(os.path.dirname(self.path), ".zerodown")
        self.state_dir = Path(os.path.abspath(state_dir or default))
        self.db_path = self.state_dir / "zerodown.db"
        self._config: ServiceConfig | None = None
        # the daemon's: one read of the file per change of it, shared by its threads and
        # requests, each of which asks it afresh (config_watch.py); a command reads it once
        self.watched = watched
        self._store: Store | None = None
        self._drivers: dict[str, object] = {}
        self._drivers_for: dict[str, ServiceConfig] = {}  # what each was built from
        self._retired: list[object] = []  # runtimes follow() let go, closed one edit later
        self._workers: ThreadPoolExecutor | None = None

    # --- configuration ---------------------------------------------------------

    def config(self, overrides: Iterable[str] = (),
               typed: dict[str, str] | None = None) -> ServiceConfig:
        """The file as it is now (errors name the file as the user wrote it, and `typed`'s
        flag for a setting made from one)."""
        if self.watched is not None:
            self._config = self.watched.current()
        elif self._config is None:
            self._config = self.load(self.file)
        overrides = list(overrides)
        return apply_overrides(self._config, overrides, typed) if overrides else self._config

    def load(self, file: str) -> ServiceConfig:
        # The absolute path is what revisions record and what app.cwd is relative to.
        return dataclasses.replace(load_config(file), file=self.path)

    def watch(self) -> WatchedConfig:
        """The file watched for a long-lived process (daemon/main.py gives it to every
        Controller it makes)."""
        return WatchedConfig(self.file, self.load)

    def working_config(self) -> ServiceConfig:
        """The file's config; if it does not load, the last deployed revision's snapshot,
        so pause/abort/status keep working while someone edits the file (in the daemon, the
        last version of the file that loaded, if one did since it started)."""
        try:
            return self.config()
        except ConfigError:
            if self.watched is not None and self.watched.last_good is not None:
                return self.watched.last_good
            if not self.has_state():
                raise
            last = self.store().deployments(limit=1)
            if not last:
                raise
            return snapshot_config(self.store(), last[0].service, last[0].to_revision)

    # --- state and drivers ---------------------------------------------------------

    def has_state(self) -> bool:
        """A store, or (the store lost) instances the local runtime recorded here."""
        return self.db_path.exists() or (self.state_dir / "instances.json").exists()

    def store(self) -> Store:
        if self._store is None:
            self._store = self.open_store()
        return self._store

    def open_store(self) -> Store:
        """A connection of its own (one per thread that reads while the engine writes).
        A store that lost the service while it serves is rebuilt first (engine/recovery.py),
        so `status` and the next deployment see what runs."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        store = Store(str(self.db_path))
        if self.on_event is not None:
            store.listeners.append(self.on_event)
        try:
            cfg = self.config()
        except ConfigError:
            return store  # the last revision's snapshot is in the store, if anything is
        try:
            router = self.router(cfg)
        except HostFailure:  # router.host does not answer: its table cannot be asked now;
            return store     # the command says so if it needs the router (down, status)
        recover(store, cfg.service, {"file": cfg.file, "source": cfg.source},
                self.runtime(cfg), router)
        return store

    def fresh_store(self, store: Store) -> Store:
        """`store`, or a new connection if its file was deleted or replaced meanwhile (a
        long-lived connection would go on with the old file, unseen by everyone else)."""
        if not store.replaced():
            return store
        store.close()
        return self.open_store()  # rebuilt from what serves, if the new file is empty

    def runtime(self, cfg: ServiceConfig | None = None):
        if "runtime" not in self._drivers:
            cfg = self._drivers_for["runtime"] = cfg or self.working_config()
            self._drivers["runtime"] = runtime_for(cfg, self.state_dir, self.kept)
        return self._drivers["runtime"]

    def follow(self, cfg: ServiceConfig) -> None:
        """Drivers built from another config are let go (a long-lived controller's, the
        observer's, when the file changed): the next look builds them from `cfg`. Each
        driver's own: an edit between two builds leaves them of two versions."""
        stale = {name for name, built in self._drivers_for.items() if built is not cfg}
        if "runtime" in stale:  # a fleet host's router goes over the runtime's connection
            stale.add("router")
        if not stale:
            return
        # A runtime let go is closed at the next edit, not now: another thread (the
        # observer's tick, an API request) may be mid-look on it — closed under it, its
        # pool and connections refuse the look, and status failed once after each edit.
        retired, self._retired = self._retired, []
        for name in stale:
            self._drivers_for.pop(name, None)
            driver = self._drivers.pop(name, None)
            if name == "runtime" and hasattr(driver, "close"):
                self._retired.append(driver)
        for driver in retired:
            driver.close()  # type: ignore[attr-defined]

    def router(self, cfg: ServiceConfig | None = None):
        if "router" not in self._drivers:
            cfg = self._drivers_for["router"] = cfg or self.working_config()
            if cfg.router.host is None:
                self._drivers["router"] = router_for(cfg, self.state_dir)
            else:  # on a fleet host, over the ssh runtime's connection to it
                runtime = self.runtime(cfg)
                shared = cfg.router.options.get("shared") if cfg.router.kind == "embedded" \
                    else None
                self._drivers["router"] = router_for(
                    cfg, self.state_dir, runtime.host_named(cfg.router.host),
                    runtime.router_dir(cfg.service, shared))
        return self._drivers["router"]

    def engine(self, cfg: ServiceConfig | None = None,
               finishing: Finishing | None = None) -> Engine:
        """`finishing`: the stops this process finishes beside its runs (engine/finishing.py;
        the daemon's), if they are to be left to it."""
        cfg = cfg or self.working_config()
        store, router, clock = self.store(), self.router(cfg), RealClock()
        judge = judge_for(cfg, router, clock, lambda kind, text, deployment:
                          store.event(cfg.service, kind, text, deployment))
        return Engine(store, self.runtime(cfg), router, clock, cfg, judge=judge,
                      workers=self.workers(), finishing=finishing)

    def workers(self) -> Executor:
        """Threads kept for a parallel runtime's starts (steps.launch), shared by every
        engine this controller builds: one per run or request would start threads at each
        deployment's first batch (~0.1-2 ms each on a loaded machine) and keep them."""
        if self._workers is None:
            self._workers = ThreadPoolExecutor(MAX_PARALLEL, "starts")
        return self._workers

    def close(self) -> None:
        """Let go of what this controller opened: its kept threads, the runtime's
        connections, the store. The daemon makes one per run and per request."""
        if self._workers is not None:
            self._workers.shutdown(wait=False)
            self._workers = None
        runtime = self._drivers.pop("runtime", None)
        retired, self._retired = self._retired, []
        for driver in [*retired, runtime]:
            if hasattr(driver, "close"):
                driver.close()
        self._drivers.pop("router", None)  # over the runtime's connection, on a fleet host
        self._drivers_for.clear()
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Controller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_router(self, cfg: ServiceConfig | None = None) -> None:
        """Start the load balancer if it is ours to run and not running (embedded proxy)."""
        router = self.router(cfg)
        if getattr(router, "host", None) is not None and router.host.remote:
            router.preflight()  # on router.host: refused, host named, before anything changes
        if hasattr(router, "ensure_running"):
            router.ensure_running()

    def lock_path(self, service: str) -> str:
        return f"{self.db_path}-{service}.lock"  # Store.lock_path, without opening a store

    def controller_pid(self, service: str) -> int | None:
        """The process running `service`'s deployment now, if any."""
        return lock_holder(self.lock_path(service))


# --- revisions as recorded -----------------------------------------------------------------

def snapshot_config(store: Store, service: str, revision: int) -> ServiceConfig:
    snap = store.revision(service, revision).config
    return parse_config(yaml.safe_dump(snap["source"]), file=snap.get("file") or "zerodown.yaml")


def labels(store: Store, service: str) -> Labels:
    return Labels(store, service)


class Labels(Mapping[int, views.RevisionLabel]):
    """A service's revisions' labels, each read by the primary key when first asked for:
    status, the dashboard's tick and history name a few revisions, and reading them all
    (configs parsed) each time grew with every deployment the service ever had."""

    def __init__(self, store: Store, service: str):
        self.store, self.service = store, service
        self._read: dict[int, views.RevisionLabel | None] = {}

    def __getitem__(self, number: int) -> views.RevisionLabel:
        if number not in self._read:
            version = self.store.version(self.service, number)
            self._read[number] = None if version is None else views.RevisionLabel(number, version)
        found = self._read[number]
        if found is None:
            raise KeyError(number)
        return found

    def __bool__(self) -> bool:  # "deployed": a revision at all, without counting them
        return self.store.latest_revision(self.service) > 0

    def __iter__(self) -> Iterator[int]:  # every revision: for what lists them all
        return iter([r.number for r in self.store.revisions(self.service)])

    def __len__(self) -> int:
        return len(list(iter(self)))


def label(known: Mapping[int, views.RevisionLabel], number: int) -> views.RevisionLabel:
    return known.get(number, views.RevisionLabel(number))


def maybe_label(known: Mapping[int, views.RevisionLabel],
                number: int | None) -> views.RevisionLabel | None:
    return None if number is None else label(known, number)


def resolve_revision(store: Store, service: str, text: str) -> int:
    """`--to r3`, `--to 3` or `--to v1` (the newest revision of that version)."""
    known = store.revisions(service)
    number = text[1:] if text[:1] in "rR" and text[1:].isdigit() else text
    if number.isdigit() and any(r.number == int(number) for r in known):
        return int(number)
    matches = [r.number for r in known if r.version == text]
    if matches:
        return max(matches)
    have = ", ".join(f"r{r.number} ({r.version})" for r in known) or "none"
    raise UsageError(f"service {service} has no revision {text!r} (revisions: {have})")
