"""Every seam of zerodown in one short file.

Strategies are pure; the engine acts on the world only through these
protocols, so one glance shows everything that can touch a process, a load
balancer, a metric store or the clock. Each has a real implementation and a
fake that passes the same contract tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Collection, Iterator, Protocol, runtime_checkable

from zerodown.model import Instance, Revision, RoutingTable, Slot

if TYPE_CHECKING:
    from zerodown.analysis.evidence import Counts


@runtime_checkable
class Runtime(Protocol):
    """Where instances run: `local` processes, or hosts over `ssh`."""

    def start(self, revision: Revision, slot: Slot) -> Instance:
        """Start one instance of `revision` in `slot` and return at once (not yet healthy).
        Idempotent: if that instance already runs (e.g. after a controller restart), return it.
        Record it durably before spawning it, so adopt() finds it even after a power loss:
        the engine syncs its own intent beside the start, not before it (Store.synced_beside).
        A runtime over several hosts names the host in Instance.runs_on; the engine records
        it with the row, and that host is the instance's from then on."""

    def stop(self, instance: Instance, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; returns when it is gone. Idempotent.
        A runtime whose stops take a while may set `stops_slowly = True`: the engine then
        stops in the background while the deployment goes on elsewhere (never in the
        same slot), so stop() must be thread-safe; if it also has `hasten(instances)`, a stop
        while the plan still starts instances is asked with `yielding=True` (the leaving
        process at a low CPU priority) and hasten() gives the priority back once nothing
        more starts (engine/yielding.py). A runtime that marks a stop under way where the
        instance is recorded before it signals, so that a stop asked again (one whose
        intent a power loss took from the store) awaits the first and never signals twice,
        may set `stops_once = True`: the engine then syncs a Stop step's intent beside its
        stops rather than before them (Store.synced_beside); its adopt() must then report
        that mark (Instance.stopping), read as the intent when a power loss took it. A runtime whose calls are round trips to
        other machines may set `parallel = True`: the engine then starts a step's instances,
        and probes them, from several threads at once (start, alive and healthy thread-safe)."""

    def alive(self, instance: Instance) -> bool:
        """Is the process still running?"""

    def healthy(self, instance: Instance, revision: Revision) -> tuple[bool, str]:
        """One probe by the revision's health check: (ok, what was seen, e.g. 'HTTP 503')."""

    def adopt(self, service: str, recorded: Collection[str] = ()) -> list[Instance]:
        """Instances of `service` left running by an earlier controller; a runtime over
        several hosts returns a model.Adopted naming the hosts that did not answer, and
        each Instance's runs_on the host that reported it. `recorded`: the hosts recorded
        with the service's live rows (Store.recorded_hosts), which a runtime over several
        hosts asks too, listed or not (model.hosts_to_ask); a runtime on one machine
        has nothing more to ask."""

    def logs(self, instance: Instance) -> str:
        """The path of the instance's log file (or its text, for remote runtimes)."""

    def check_release(self, app: object, version: str,
                      keep: frozenset[str] = frozenset(), unlisted: Collection[str] = ()
                      ) -> None:
        """Raise a ConfigError naming what `version` of `app` (a config.AppConfig) lacks to
        start here: its release folder, env file, a secret. Called by `plan` and before a
        deployment takes a revision number, so nothing starts half-way. A runtime that
        uploads releases (ssh) prunes old ones then, never a version in `keep` (the
        versions a rollback may go back to) nor one that runs. `unlisted`: hosts that
        runtime.hosts no longer lists where the deployment's plan acts on instances
        recorded there (engine/unlisted.py): a runtime over several hosts checks them
        too (RuntimeFailure naming one that does not answer), uploading nothing there."""


class Spawned(Protocol):
    """What Host.spawn returns: at least the new process's pid."""

    pid: int


@runtime_checkable
class Host(Protocol):
    """Where a process runs: this machine (zerodown/hosts/local.py), an SSH host later.

    Runtimes and routers find, wait for and signal their processes by asking the
    host they run on. A process is named by (pid, the kernel's start time of it),
    never by pid alone: a pid is reused once its process is gone.
    """

    name: str
    poll: float  # how often a loop waiting on this host's processes looks again

    def processes(self) -> Iterator[tuple[int, list[str]]]:
        """(pid, argv) of every process whose command line can be read."""

    def start_time(self, pid: int) -> int | None:
        """The kernel's start time of `pid`; None if it is not running."""

    def parent_of(self, pid: int) -> int | None:
        """The parent pid of `pid`; None if it is gone."""

    def running(self, pid: int | None, started: int | None) -> bool:
        """Is `pid` still the process that started at `started`?"""

    def spawn(self, argv: list[str], *, cwd: str | None, env: dict[str, str] | None,
              log_path: Path, banner: str) -> Spawned:
        """Start `argv` in its own session, output appended to `log_path`."""

    def exit_code(self, pid: int) -> int | None:
        """How a process spawned here ended (negative: by that signal); None if unknown."""

    def forget(self, pid: int) -> None:
        """Drop a stopped child from the host's table of children."""

    def terminate(self, pid: int, started: int, grace: float, what: str) -> None:
        """SIGTERM its process group, SIGKILL after `grace` seconds; return once it is gone."""

    def wait_gone(self, pid: int, started: int, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the process to end; True if it did."""

    def tail(self, path: Path | str, lines: int) -> list[str]:
        """The last `lines` lines of a text file on this host (a log)."""

    # Files and commands of a load balancer that runs on this host (routers/): its
    # configuration, maps, certificates, state and pid files live there.
    remote: bool       # False: its paths are this machine's (LocalHost)
    python: str        # the interpreter that runs `python -m zerodown` there

    def read_text(self, path: str, offset: int = 0) -> str | None:
        """A file's text from byte `offset` on; None if there is no such file."""

    def write_text(self, path: str, text: str) -> None:
        """Write a file whole and atomically (mode 0600), its folder made if need be."""

    def remove(self, path: str) -> None:
        """Remove a file; nothing if there is none."""

    def makedirs(self, path: str) -> None:
        """Make a folder and its parents; nothing if it exists."""

    def size(self, path: str) -> int:
        """A file's size in bytes; 0 if there is none."""

    def run(self, argv: list[str], timeout: float, cwd: str | None = None
            ) -> tuple[int | None, str]:
        """(exit code, output) of a short command; exit code None: it could not start or
        did not end within `timeout`. HostFailure when the host's answer was lost."""

    def send_signal(self, pid: int, started: int | None, signum: int, group: bool = False
                    ) -> bool:
        """Signal `pid` (with `group`, its process group) if it is still the process
        started at `started`; False if gone."""

    def ask_unix(self, path: str, data: str, timeout: float) -> str:
        """Send `data` to the unix socket `path` there, half-close, read the whole answer
        (HAProxy's command sockets); OSError or RuntimeFailure if it got none."""

    def ask_unix_many(self, path: str, datas: list[str], timeout: float,
                      stop_at: str | None = None) -> list[str]:
        """ask_unix for each of `datas` in turn, in one call; with `stop_at` (a regular
        expression) the first answer matching it is the last (the rest are not sent)."""

    def batch(self, calls: list) -> list:
        """[(op, args), ...] of read_text, write_text, remove, ask_unix, ask_unix_many run in
        order there in one call (over SSH: one round trip): their results. One that fails
        stops the rest; its error is the batch's, as if called alone."""

    def argv_of(self, pid: int) -> list[str] | None:
        """The command line `pid` shows (a process may retitle itself); None if gone."""

    def children(self, pid: int) -> list[tuple[int, int, list[str]]]:
        """(pid, start time, command line) of the running children of `pid`."""

    def code_root(self) -> str:
        """A folder there from which `python -m zerodown` runs this controller's zerodown."""

    def unix_path(self, path: str) -> str:
        """A unix socket path on *this* machine whose connections reach the unix socket
        `path` on the host (itself locally; forwarded over SSH otherwise)."""


@runtime_checkable
class Router(Protocol):
    """A load balancer made to match a routing table exactly."""

    def apply(self, table: RoutingTable) -> bool:
        """Make the load balancer serve `table`, whole; True if anything changed.
        Applying the same table twice changes nothing."""

    def drained(self, backend_id: str) -> bool:
        """True once a backend that left the table has no request in flight."""

    # Optional (the embedded proxy has it): unanswered(backend_id) -> (requests answered,
    # in flight, in flight with no response byte yet), or None. A drain uses it to tell a
    # backend that hangs from one that is busy (engine/draining.py). drain_state(ids) ->
    # {id: (drained, unanswered)}: both for a whole batch in one reading. drain_look(ids) ->
    # (that, the table in force) from one look (every real router): the Stop right after a
    # drain takes that table as its check instead of asking in_force (engine/draining.py).
    # Optional (the embedded proxy has them; routers/capabilities.py says who lacks them):
    # shadow(settings | None) -> stats starts (PUT /shadow, docs/proxy.md) or stops a mirror of
    # users' requests to a shadow address; shadow_stats() -> its counts and examples, or None.
    # Optional (every real router has it): refresh_tls() -> bool: the certificate files
    # changed, take them with no failed request (tls_refresh.py decides when); False when
    # nothing runs to take them or there is no `tls:`.

    def stats(self) -> dict:
        """Per-revision and per-backend counters: requests, 2xx..5xx, latency, in-flight."""

    def in_force(self) -> RoutingTable:
        """The table the load balancer serves now, asked of it (not of zerodown's store):
        what the engine checks before it stops an instance, and rebuilds a lost store from."""


@runtime_checkable
class MetricSource(Protocol):
    """Where analysis reads a revision's behaviour from (zerodown/analysis/sources.py)."""

    def counts(self, revision: str) -> Counts | None:
        """Cumulative requests, failed (5xx) requests and latency histogram of `revision`
        since the source began counting; None when it knows nothing of it yet. Sequential
        tests need counts, not rates: the judge takes the difference of two readings."""

    def query(self, revision: str, metric: str, window: float) -> float | None:
        """The metric's value over the last `window` seconds; None when there is no data."""


@runtime_checkable
class Clock(Protocol):
    """Time, injected: a test crosses a ten-minute pause in microseconds."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...
