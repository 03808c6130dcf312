"""Hooks for real: child processes in their own process group, and webhooks to a real
HTTP server on 127.0.0.1 (one that records, one that fails, one that never answers)."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support import HOST
from tests.support.net import free_port
from zerodown import hooks as hooks_module
from zerodown.hooks import (OUTPUT_KEEP, HookContext, HookFailed, Hooks, HookSpec, require,
                            run_hook, run_hooks)

CTX = HookContext(service="shop", deployment=12, moment="before_traffic", revision=5,
                  version="v5", stable_revision=4, step=3, step_description="route r5 20%",
                  url="http://127.0.0.1:8080", preview_header="X-Preview: r5",
                  extra={"ticket": "OPS-9"}, instances=("127.0.0.1:41005", "127.0.0.1:41006"))
RECORD_ENV = "import json, os, sys; json.dump({'env': dict(os.environ), 'cwd': os.getcwd()}, " \
             "open(sys.argv[1], 'w'))"


def running(pid: int) -> bool:
    """Is `pid` a live process? A zombie is dead: only its exit status is left, kept by a
    parent (or by a PID 1 that never reaps orphans, as in some containers)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in (b"Z", b"X")


# --- commands ------------------------------------------------------------------

def test_a_command_gets_the_context_its_env_and_runs_in_its_cwd(tmp_path):
    (tmp_path / "scripts").mkdir()
    out = tmp_path / "record.json"
    spec = HookSpec(command=(sys.executable, "-c", RECORD_ENV, str(out)), cwd="scripts",
                    env={"SMOKE_MODE": "quick", "ZERODOWN_VERSION": "not-this"})
    result = run_hook(spec, CTX, base_dir=str(tmp_path))
    assert result.ok, result.summary
    assert result.summary.startswith(f"{spec.label} exited 0 after ")
    seen = json.loads(out.read_text())
    assert seen["cwd"] == str(tmp_path / "scripts")
    env = seen["env"]
    assert env["SMOKE_MODE"] == "quick" and env["PATH"] == os.environ["PATH"]
    assert {k: env[k] for k in env if k.startswith("ZERODOWN_") and k != "ZERODOWN_CONTEXT"} == {
        "ZERODOWN_SERVICE": "shop", "ZERODOWN_DEPLOYMENT": "12",
        "ZERODOWN_MOMENT": "before_traffic",
        "ZERODOWN_REVISION": "5", "ZERODOWN_VERSION": "v5", "ZERODOWN_STABLE_REVISION": "4",
        "ZERODOWN_STEP": "3", "ZERODOWN_STEP_DESCRIPTION": "route r5 20%",
        "ZERODOWN_URL": "http://127.0.0.1:8080", "ZERODOWN_HOST": "127.0.0.1:8080",
        "ZERODOWN_PREVIEW_HEADER": "X-Preview: r5",
        "ZERODOWN_INSTANCES": "127.0.0.1:41005 127.0.0.1:41006"}
    assert json.loads(env["ZERODOWN_CONTEXT"])["extra"] == {"ticket": "OPS-9"}


def test_a_string_command_runs_through_the_shell(tmp_path):
    out = tmp_path / "x"
    result = run_hook(HookSpec(command=f'echo "$ZERODOWN_MOMENT $ZERODOWN_VERSION" >> {out}'), CTX)
    assert result.ok and out.read_text() == "before_traffic v5\n"


def test_a_failing_command_is_a_result_with_its_output_not_an_exception():
    line = "echo checking; echo 'smoke: 503 from /' >&2; exit 3"
    result = run_hook(HookSpec(command=line, name="smoke"), CTX)
    assert not result.ok and result.hook == f"smoke ({line})"
    assert " exited 3 after " in result.summary
    assert result.summary.endswith("; last output:\nchecking\nsmoke: 503 from /")
    with pytest.raises(HookFailed, match=r"^before_traffic hook smoke \(.*\) exited 3 after "):
        require([result], "before_traffic")


def test_only_the_end_of_a_long_output_is_kept():
    result = run_hook(HookSpec(command="yes line | head -n 20000; echo the-end; exit 1"), CTX)
    assert not result.ok and len(result.output.encode()) <= OUTPUT_KEEP
    assert result.output.endswith("line\nthe-end\n")
    assert result.summary.count("\n") == hooks_module.SUMMARY_LINES


def test_a_command_killed_by_a_signal_says_which():
    result = run_hook(HookSpec(command="kill -KILL $$"), CTX)
    assert not result.ok and " was killed by SIGKILL after " in result.summary


@pytest.mark.parametrize("spec, expected", [
    (HookSpec(command=("/nonexistent/smoke.sh",)),
     "/nonexistent/smoke.sh could not start: No such file or directory (cwd "),
    (HookSpec(command=("true",), cwd="no-such-dir"),
     "true could not start: working directory "),
])
def test_a_command_that_cannot_start_says_why(tmp_path, spec, expected):
    result = run_hook(spec, CTX, base_dir=str(tmp_path))
    assert not result.ok and result.summary.startswith(expected)


@pytest.mark.parametrize("spec, expected", [
    (HookSpec(command=("echo", "a\0b")), "echo 'a\0b' could not start: embedded null byte"),
    (HookSpec(command=("true",), env={"A=B": "c"}), "true could not start: illegal environment "),
    (HookSpec(http="http://127.0.0.1:1/", headers={"X-A": "a\nb"}),
     "POST http://127.0.0.1:1/ failed: Invalid header value"),
])
def test_a_hook_built_in_code_with_bad_values_fails_without_raising(spec, expected):
    result = run_hook(spec, CTX)
    assert not result.ok and result.summary.startswith(expected)


@pytest.mark.parametrize("ignores_term", [False, True])
def test_at_the_timeout_the_whole_process_group_is_killed(tmp_path, monkeypatch, ignores_term):
    monkeypatch.setattr(hooks_module, "KILL_GRACE", 0.3)
    pid_file = tmp_path / "child.pid"
    # The shell starts a grandchild and waits for it; with `trap '' TERM` both ignore
    # SIGTERM (an ignored signal stays ignored across exec), so only SIGKILL ends them.
    trap = "trap '' TERM; " if ignores_term else ""
    spec = HookSpec(command=f"{trap}sleep 60 & echo $! > {pid_file}; echo started; wait",
                    timeout=1.0)
    result = run_hook(spec, CTX)
    child = int(pid_file.read_text())
    assert not result.ok
    assert result.summary.startswith(f"{spec.label} timed out after 1s (its process group was "
                                     "killed); last output:\nstarted")
    assert not running(child), f"the hook's child {child} outlived the hook"
    assert 1.0 <= result.seconds < 1.0 + 2 * 0.3 + 2.0
    if ignores_term:  # it took the SIGKILL, after the grace
        assert result.seconds >= 1.0 + 0.3


def test_hooks_of_a_moment_run_in_order_and_stop_at_a_failure_before_promotion(tmp_path):
    log = tmp_path / "log"
    step = lambda word, code=0: HookSpec(  # noqa: E731
        command=f'echo "{word} $ZERODOWN_MOMENT" >> {log}; exit {code}')
    specs = (step("a"), step("b", 1), step("c"))
    heard = []
    results = run_hooks(Hooks(before_traffic=specs, on_rollback=specs), "before_traffic", CTX,
                        on_result=heard.append)
    assert [r.ok for r in results] == [True, False] and heard == results
    assert log.read_text() == "a before_traffic\nb before_traffic\n"
    with pytest.raises(HookFailed, match="^before_traffic hook "):
        require(results, "before_traffic")

    log.unlink()
    results = run_hooks(Hooks(on_rollback=specs), "on_rollback", CTX)  # reported, not fatal
    assert [r.ok for r in results] == [True, False, True]
    assert log.read_text() == "a on_rollback\nb on_rollback\nc on_rollback\n"
    require(results, "on_rollback")
    assert run_hooks(Hooks(), "after_promote", CTX) == []


# --- webhooks ------------------------------------------------------------------

class Recorder(BaseHTTPRequestHandler):
    """/ok answers 204, /fail 500 with a body, /moved 302; every request is recorded."""

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        status, text = {"/ok": (204, b""), "/fail": (500, b"database down\n"),
                        "/moved": (302, b"")}.get(self.path, (404, b"no such hook"))
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    do_PUT = do_POST  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer((HOST, 0), Recorder)
    srv.seen = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{srv.server_address[1]}", srv.seen
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_a_webhook_gets_the_context_as_json_with_its_headers(server):
    base, seen = server
    spec = HookSpec(http=f"{base}/ok", method="PUT", headers={"Authorization": "Bearer t0k"})
    result = run_hook(spec, CTX)
    assert result.ok and result.summary.startswith(f"PUT {base}/ok answered HTTP 204 after ")
    (method, path, headers, body), = seen
    assert (method, path) == ("PUT", "/ok")
    assert headers["Authorization"] == "Bearer t0k"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "service": "shop", "deployment": 12, "moment": "before_traffic", "revision": 5,
        "version": "v5", "stable_revision": 4, "step": 3, "step_description": "route r5 20%",
        "url": "http://127.0.0.1:8080", "preview_header": "X-Preview: r5",
        "extra": {"ticket": "OPS-9"}, "instances": ["127.0.0.1:41005", "127.0.0.1:41006"],
        "host": "127.0.0.1:8080"}


def test_a_webhook_ignores_proxy_variables_for_loopback(server, monkeypatch):
    base, seen = server
    monkeypatch.setenv("http_proxy", f"http://{HOST}:{free_port()}")  # nobody listens there
    monkeypatch.setenv("no_proxy", "")
    assert run_hook(HookSpec(http=f"{base}/ok"), CTX).ok and len(seen) == 1


@pytest.mark.parametrize("path, expected", [
    ("/fail", "answered HTTP 500 after "),
    ("/moved", "answered HTTP 302 after "),  # not followed: that would re-send it as a GET
])
def test_a_webhook_that_answers_other_than_2xx_fails(server, path, expected):
    base, seen = server
    result = run_hook(HookSpec(http=base + path), CTX)
    assert not result.ok and result.summary.startswith(f"POST {base}{path} {expected}")
    assert [p for _, p, _, _ in seen] == [path]
    if path == "/fail":
        assert result.summary.endswith("; last output:\ndatabase down")


def test_a_webhook_that_never_answers_times_out():
    silent = socket.socket()
    silent.bind((HOST, 0))
    silent.listen(8)  # connects complete in the backlog; nothing ever reads or answers
    try:
        url = f"http://{HOST}:{silent.getsockname()[1]}/hook"
        result = run_hook(HookSpec(http=url, timeout=0.5), CTX)
    finally:
        silent.close()
    assert not result.ok and result.summary == f"POST {url} timed out after 0.5s"
    assert 0.5 <= result.seconds < 3.0


def test_a_webhook_nobody_listens_to_fails_clearly():
    url = f"http://{HOST}:{free_port()}/hook"
    result = run_hook(HookSpec(http=url, timeout=2), CTX)
    assert not result.ok and result.summary == f"POST {url} failed: connection refused"
