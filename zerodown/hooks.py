"""Lifecycle hooks: commands or webhooks run at the moments of a deployment.

    hooks:
      before_traffic:
        - command: ["./smoke.sh"]      # argv, run without a shell ("a string" runs via /bin/sh -c)
          timeout: 20s
        - http: http://127.0.0.1:9000/hook

A command gets the context as ZERODOWN_* environment variables (and all of
it as JSON in ZERODOWN_CONTEXT); a webhook gets the same fields as a JSON
body. A hook fails on a non-zero exit, a non-2xx answer, an error or its
timeout; `run_hook` never raises for that, it returns HookResult(ok=False).
A failure at a moment in BEFORE_PROMOTION stops that moment's hooks and,
through `require`, aborts the deployment; after_promote and on_rollback
failures are reported only (the deployment is already past turning back).

What a hook is (HookSpec, Hooks, MOMENTS) is hooks_model.py, which
configuration and planners read without importing this runner; the YAML
`hooks:` section is parsed in hooks_config.py.
"""

from __future__ import annotations

import dataclasses
import http.client
import ipaddress
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from zerodown.errors import ZerodownError
from zerodown.hooks_model import BEFORE_PROMOTION, MOMENTS, HookSpec, Hooks

# The names tests and older code import from here; the vocabulary lives in hooks_model.py.
__all__ = ["BEFORE_PROMOTION", "MOMENTS", "HookContext", "HookFailed", "HookResult", "HookSpec",
           "Hooks", "require", "run_hook", "run_hooks"]

KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for a hook past its timeout
OUTPUT_KEEP = 4096  # bytes kept of a command's output (its end) or a webhook's answer (its start)
SUMMARY_LINES = 10  # lines of that output quoted in a failure's summary


class HookFailed(ZerodownError):
    """A hook before promotion failed: the deployment must abort."""

    def __init__(self, moment: str, result: "HookResult"):
        self.moment, self.result = moment, result
        super().__init__(f"{moment} hook {result.summary}")


@dataclass(frozen=True)
class HookContext:
    """What a hook is told about the deployment it runs in."""

    service: str
    deployment: int
    moment: str
    revision: int  # the new revision
    version: str  # its label, e.g. "v2"
    stable_revision: int | None  # the revision serving before (None: first deploy)
    step: int
    step_description: str
    url: str  # the service through its listener from here, e.g. http://127.0.0.1:8080/api
    preview_header: str | None = None  # the header that reaches the new revision early, if any
    extra: dict[str, Any] = field(default_factory=dict)
    instances: tuple[str, ...] = ()  # host:port of each started new instance, to test directly
    # the Host header to send to `url`: on a shared proxy, the one that picks this service
    # (service_url.hook_address); left out: url's own
    host: str = ""

    def __post_init__(self) -> None:
        if not self.host:
            object.__setattr__(self, "host", urllib.parse.urlsplit(self.url).netloc)

    def as_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), default=str, sort_keys=True)

    def environment(self) -> dict[str, str]:
        none_empty = lambda v: "" if v is None else str(v)  # noqa: E731
        return {"ZERODOWN_SERVICE": self.service, "ZERODOWN_DEPLOYMENT": str(self.deployment),
                "ZERODOWN_MOMENT": self.moment, "ZERODOWN_REVISION": str(self.revision),
                "ZERODOWN_VERSION": self.version,
                "ZERODOWN_STABLE_REVISION": none_empty(self.stable_revision),
                "ZERODOWN_STEP": str(self.step), "ZERODOWN_STEP_DESCRIPTION": self.step_description,
                "ZERODOWN_URL": self.url,
                "ZERODOWN_HOST": self.host,
                "ZERODOWN_PREVIEW_HEADER": none_empty(self.preview_header),
                "ZERODOWN_INSTANCES": " ".join(self.instances),
                "ZERODOWN_CONTEXT": self.as_json()}


@dataclass(frozen=True)
class HookResult:
    ok: bool
    seconds: float
    summary: str  # names the hook and what happened: "./smoke.sh exited 1 after 0.2s: ..."
    hook: str = ""  # HookSpec.label
    output: str = ""  # the last OUTPUT_KEEP bytes of its output (or of a webhook's answer)


# --- running ----------------------------------------------------------------

OnHosts = Callable[[HookSpec, HookContext], list["HookResult"]]


def run_hooks(hooks: Hooks, moment: str, ctx: HookContext,
              on_result: Callable[[HookResult], None] | None = None,
              base_dir: str | None = None, on_hosts: OnHosts | None = None) -> list[HookResult]:
    """Run `moment`'s hooks in order; before promotion, stop at the first failure.

    `on_result` hears each result as it comes (to log it as an event);
    `base_dir` is zerodown.yaml's directory, where commands run. A `per_host` hook is run
    by `on_hosts` (the ssh runtime's: a result per host, each naming its host).
    """
    ctx = dataclasses.replace(ctx, moment=moment)
    results: list[HookResult] = []
    for spec in hooks.at(moment):
        if spec.per_host:
            got = on_hosts(spec, ctx) if on_hosts is not None else [HookResult(
                False, 0.0, f"{spec.label} could not run: per_host needs runtime: ssh",
                spec.label)]
        else:
            got = [run_hook(spec, ctx, base_dir)]
        for result in got:
            results.append(result)
            if on_result is not None:
                on_result(result)
        if not all(r.ok for r in got) and moment in BEFORE_PROMOTION:
            break
    return results


def require(results: list[HookResult], moment: str) -> None:
    """Raise HookFailed for the first failure, if a failure at `moment` aborts."""
    failed = next((r for r in results if not r.ok), None)
    if failed is not None and moment in BEFORE_PROMOTION:
        raise HookFailed(moment, failed)


def run_hook(spec: HookSpec, ctx: HookContext, base_dir: str | None = None) -> HookResult:
    """Run one hook; `base_dir` (zerodown.yaml's directory) anchors a relative cwd."""
    if spec.http is not None:
        return _run_webhook(spec, ctx)
    return _run_command(spec, ctx, base_dir)


def _result(spec: HookSpec, ok: bool, started: float, what: str, output: str = "") -> HookResult:
    seconds = time.monotonic() - started
    summary = f"{spec.label} {what}"
    tail = "\n".join(output.strip().splitlines()[-SUMMARY_LINES:])
    if tail and not ok:
        summary += f"; last output:\n{tail}"
    return HookResult(ok, seconds, summary, spec.label, output)


def _run_command(spec: HookSpec, ctx: HookContext, base_dir: str | None) -> HookResult:
    command = spec.command or ()
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    cwd = os.path.normpath(os.path.join(base_dir or os.getcwd(), spec.cwd or "."))
    env = {**os.environ, **spec.env, **ctx.environment()}
    started = time.monotonic()
    if not os.path.isdir(cwd):
        return _result(spec, False, started, f"could not start: working directory {cwd} "
                       "does not exist")
    with tempfile.TemporaryFile() as out:  # a file, not a pipe: a lingering child cannot block us
        try:
            # Its own session, so its process group is ours to kill whole at the timeout.
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except (OSError, ValueError) as e:  # ValueError: a NUL byte, a bad env name
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            return _result(spec, False, started, f"could not start: {why} (cwd {cwd})")
        try:
            code = proc.wait(timeout=spec.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            what = f"timed out after {spec.timeout:g}s (its process group was killed)"
            return _result(spec, False, started, what, _tail(out))
        except BaseException:  # interrupted (Ctrl-C): leave no hook running behind us
            _kill_group(proc)
            raise
        output = _tail(out)
    return _result(spec, code == 0, started, _exit_text(code, time.monotonic() - started), output)


def _exit_text(code: int, seconds: float) -> str:
    if code < 0:
        try:
            how = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    else:
        how = f"exited {code}"
    return f"{how} after {seconds:.2f}s"


def _tail(f) -> str:
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - OUTPUT_KEEP))
    return f.read().decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the hook's whole process group; SIGKILL it if anyone is left after KILL_GRACE."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        if _group_ends(proc, within=KILL_GRACE):
            break
    proc.wait()


def _group_ends(proc: subprocess.Popen, within: float) -> bool:
    deadline = time.monotonic() + within
    while True:
        proc.poll()  # reap the leader, so that only live members count
        if not _group_alive(proc.pid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    """Does any process of group `pgid` still run? Zombies do not count: they are dead
    and some parent (or a PID 1 that never reaps) merely holds their exit status."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:  # no /proc: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, not a success: following it would turn a POST into a GET."""

    def redirect_request(self, *args, **kwargs):
        return None


def _opener(url: str) -> urllib.request.OpenerDirector:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    # A proxy cannot reach our loopback; elsewhere the usual *_proxy variables apply.
    proxies = urllib.request.ProxyHandler({}) if loopback else urllib.request.ProxyHandler()
    return urllib.request.build_opener(proxies, _NoRedirect)


def _run_webhook(spec: HookSpec, ctx: HookContext) -> HookResult:
    url, body = spec.http or "", ctx.as_json().encode()
    headers = {"Content-Type": "application/json", "User-Agent": "zerodown-hook", **spec.headers}
    started = time.monotonic()
    try:
        request = urllib.request.Request(url, data=body, headers=headers, method=spec.method)
        with _opener(url).open(request, timeout=spec.timeout) as response:
            answer = _read(response)
            status = response.status
    except urllib.error.HTTPError as e:
        answer = _read(e) if e.fp else ""
        seconds = time.monotonic() - started
        return _result(spec, False, started, f"answered HTTP {e.code} after {seconds:.2f}s", answer)
    except ValueError as e:  # a URL or header value urllib refuses
        return _result(spec, False, started, f"failed: {e}")
    except (OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)  # URLError wraps the socket's error
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return _result(spec, False, started, f"timed out after {spec.timeout:g}s")
        return _result(spec, False, started, f"failed: {_reason(reason)}")
    seconds = time.monotonic() - started
    if seconds > spec.timeout:  # a slow trickle can pass every single socket timeout
        return _result(spec, False, started, f"timed out after {spec.timeout:g}s", answer)
    return _result(spec, True, started, f"answered HTTP {status} after {seconds:.2f}s", answer)


def _read(response) -> str:
    """The start of an answer's body: for the summary, so a failure to read it is no failure."""
    try:
        return response.read(OUTPUT_KEEP).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""


def _reason(reason: Any) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__
