"""One exception tree for the whole package.

Every error zerodown raises on purpose derives from ZerodownError, carries a
message that says what, where and the limit, and maps to one exit code in the
CLI (see cli.py). Third-party errors are translated at the boundary.
"""


class ZerodownError(Exception):
    """Base of every error zerodown raises on purpose."""

    exit_code = 1


class UsageError(ZerodownError):
    """Bad command-line usage or bad configuration: exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration file is wrong; names the file, line and key."""

    errors: "list[ConfigError]"  # every problem found, this one among them (config.raise_errors)

    def __init__(self, message: str, *, file: str | None = None,
                 line: int | None = None, key: str | None = None):
        self.file, self.line, self.key = file, line, key
        where = ":".join(str(p) for p in (file, line) if p is not None)
        prefix = f"{where}: " if where else ""
        at_key = f"{key}: " if key else ""
        super().__init__(f"{prefix}{at_key}{message}")


class TableError(ZerodownError):
    """A routing table is malformed; the table in force stays untouched."""


class StaleTableError(TableError):
    """A routing table older than the one in force was offered. `in_force` is the
    (epoch, version) in force when the router said so (zerodown/table_version.py)."""

    def __init__(self, message: str, in_force: tuple[int, int] | None = None):
        super().__init__(message)
        self.in_force = in_force


class RouterError(ZerodownError):
    """A load balancer could not be driven (unreachable, refused a change)."""


class ListenTaken(RouterError):
    """The load balancer zerodown started could not bind its listen address: another
    process holds it. The machine's state, not a failed deployment: exit code 2."""

    exit_code = 2


class ListenMoved(RouterError):
    """The load balancer serving this state directory listens on another address than
    zerodown.yaml's `listen` now says: it moves only by a new start (down, then up), which
    zerodown does not do unasked. The machine's state against the file: exit code 2."""

    exit_code = 2


class RouterUnavailable(RouterError):
    """The load balancer did not answer, even after waiting for it to come back."""


class RuntimeFailure(ZerodownError):
    """An instance could not be started, probed or stopped."""


class HostFailure(RuntimeFailure):
    """A host of the fleet did not answer: no connection, or a step's outcome on it
    unknown (the connection died, the step timed out). `host` names it as runtime.hosts
    does; a deployment follows its `on_host_failure` policy (pause, or skip the host)."""

    def __init__(self, message: str, host: str):
        super().__init__(message)
        self.host = host


class HostUnreachable(HostFailure):
    """A host's SSH connection could not be opened (names the host and why): nothing was
    sent to it, so nothing ran there (`zerodown exec` says "not run", not "unknown")."""


class OwnerUnreadable(RuntimeFailure):
    """A service's owner record on a host cannot be read (zerodown/hosts/owner.py): the
    host answered, so it is not a HostFailure, and nobody there can be told apart from
    another controller. `said` is the host's own words (the file, why, the way out)."""

    def __init__(self, said: str, host: str):
        super().__init__(f"host {host}: {said}")
        self.said, self.host = said, host


class NotOwner(RuntimeFailure):
    """A host refused to change a service's instances (start, stop, a release's commit):
    its owner record names another controller, which took the service over since this
    one's pre-flight (zerodown/hosts/owner.py). The host answered, so it is not a
    HostFailure: a deployment neither pauses for it nor skips it, and does not roll back
    through it either (every act there would be refused alike): it fails
    (engine/replanning.py). `owner`: the record the host holds."""

    def __init__(self, message: str, host: str, owner: dict):
        super().__init__(message)
        self.host, self.owner = host, owner
