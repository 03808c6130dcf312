"""The dashboard in a real browser (Debian's chromium, driven by Playwright) against
the real controller daemon, while a canary runs under a real load generator:
the traffic bar shows a new weight within 1 s of the routing table's change, and
Abort (confirmed in the page's dialog) brings every user back to stable with no
failed request. Screenshots go to $ZERODOWN_ARTIFACTS (default: the test's tmp dir)."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import HOST
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, require_chromium, sync_playwright
from tests.support.cli import Service
from tests.support.net import free_port, wait_until
from zerodown.loadgen import LoadInBackground
from zerodown.proxy.client import AdminClient

require_chromium()
CANARY = "strategy={kind: canary, steps: [{weight: 30}, {pause: {}}]}"  # --set for the deployment


class Api:
    """The controller's HTTP API on TCP, as a browser reaches it: a bearer token."""

    def __init__(self, service: Service, port: int):
        self.port = port
        self.token = service.run("token", "create", "browser-test").stdout.split()[0]

    def __call__(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())


class TableWatch:
    """Reads the proxy's routing table every 10 ms and notes when each version appeared:
    the moment the page is measured against."""

    def __init__(self, state_dir: Path):
        self.client = AdminClient(f"unix:{state_dir / 'proxy.sock'}", timeout=2.0)
        self.seen: list[tuple[float, int, dict[str, float]]] = []  # (time, version, weights)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.01):
            table = self.client.table()
            if not self.seen or self.seen[-1][1] != table.version:
                self.seen.append((time.time(), table.version,
                                  {r.name: r.weight for r in table.revisions}))

    def when(self, revision: str, weight: float) -> float | None:
        """When the proxy first served `weight` to `revision`."""
        return next((t for t, _, w in self.seen if w.get(revision) == weight), None)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


# Records, in the page, when the traffic bar's weights change (the page's own clock is the
# machine's, as the table watch's is).
RECORD_WEIGHTS = """() => {
  window.zdWeights = [];
  const bar = document.getElementById('traffic-bar');
  const note = () => { for (const seg of bar.querySelectorAll('.seg')) {
    const last = window.zdWeights.filter(x => x.revision === seg.dataset.revision).pop();
    if (!last || last.weight !== Number(seg.dataset.weight))
      window.zdWeights.push({time: Date.now() / 1000, revision: seg.dataset.revision,
                             weight: Number(seg.dataset.weight)});
  } };
  new MutationObserver(note).observe(bar, {subtree: true, childList: true, attributes: true,
                                           attributeFilter: ['data-weight']});
  note();
}"""


@contextmanager
def browser(tmp: Path):
    """(new_page, errors): pages of one fresh Chromium profile, and the errors they threw."""
    with sync_playwright() as p:
        # A fresh profile each time; Debian's chromium, never a downloaded one.
        context = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(dir=tmp, prefix="chromium-"), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900})
        errors: list[str] = []

        def new_page():
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            return page

        try:
            yield new_page, errors
        finally:
            context.close()


def wait_live(page, errors: list[str]) -> None:
    """Until the page's stream to the controller is open; if it never opens, the link's
    state and text and the page's errors (a bare timeout says nothing of why)."""
    try:
        page.wait_for_function("document.querySelector('#link').dataset.state === 'live'")
    except Exception as e:   # playwright's TimeoutError (its import is optional here)
        if type(e).__name__ != "TimeoutError":
            raise
        link = page.evaluate("() => [document.querySelector('#link').dataset.state, "
                             "document.querySelector('#link-text').textContent]")
        raise AssertionError(f"the dashboard never went live: link {link}, errors {errors}")


def weight_in_page(page, revision: str) -> float | None:
    return page.evaluate("(r) => { const s = document.querySelector(`#traffic-bar .seg[data-revision='${r}']`);"
                         " return s ? Number(s.dataset.weight) : null; }", revision)


def serving(tmp_path, up):
    """A service serving v1 (started by `up`), its controller's API on TCP too: (service, api)."""
    port = free_port()
    service = Service(tmp_path, extra=f"controller:\n  listen: 127.0.0.1:{port}\n")
    try:
        up(service)
        yield service, Api(service, port)
    finally:
        left = service.cleanup()
    assert not left, f"processes left after the test: {left}"


@pytest.fixture
def served(tmp_path):
    yield from serving(tmp_path, lambda service: service.run("up"))


GRACE = 4.0  # seconds each stop of a v1 instance lasts: the window of "ended, not settled"


@pytest.fixture
def served_deaf(tmp_path):
    """As `served`, v1's instances ignoring SIGTERM: a deployment from v1 settles GRACE
    after its phase ended."""
    yield from serving(tmp_path, lambda service: service.up_deaf_to_sigterm(GRACE))


def test_the_dashboard_follows_a_canary_live_and_aborts_it(served, tmp_path):
    service, api = served
    artifacts = Path(os.environ.get("ZERODOWN_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    dashboard = api("GET", "status")["dashboard"]
    watch = TableWatch(service.state_dir)
    try:
        with browser(tmp_path) as (new_page, errors), \
                LoadInBackground(f"http://{HOST}:{service.port}/", connections=4,
                                 duration=120) as load:
            page = new_page()
            # The token comes once in the fragment, as `zerodown up` prints the URL with it.
            page.goto(f"{dashboard}#token={api.token}")
            wait_live(page, errors)
            assert weight_in_page(page, "r1") == 100
            assert "token" not in page.url  # moved to sessionStorage, out of the address bar
            # A second tab that cannot open the stream (a proxy in the way) polls instead;
            # its token comes in the query this time.
            polled = new_page()
            polled.route("**/api/v1/stream*", lambda route: route.abort())
            polled.goto(f"{dashboard}?token={api.token}")
            polled.wait_for_function("document.querySelector('#link').dataset.state === 'polling'")
            page.evaluate(RECORD_WEIGHTS)
            load.wait_for_responses(300)

            deployment = api("POST", "deployments", {"version": "v2", "set": [CANARY], "reason": "e2e"})["id"]
            table_time = wait_until(lambda: watch.when("r2", 30), 20, "the proxy routing 30% to r2")
            page.wait_for_function("() => (window.zdWeights || []).some(x => x.revision === 'r2' && x.weight === 30)",
                                   timeout=5000)
            page_time = page.evaluate("window.zdWeights.find(x => x.revision === 'r2' && x.weight === 30).time")
            lag = page_time - table_time
            print(f"the bar showed the new weight {lag:.3f}s after the proxy's table changed")
            assert lag <= 1.0, f"the bar showed r2 at 30% {lag:.3f}s after the proxy's table changed"
            polled.wait_for_function("() => { const s = document.querySelector(\"#traffic-bar .seg[data-revision='r2']\");"
                                     " return s && Number(s.dataset.weight) === 30; }", timeout=5000)
            page.wait_for_selector("#headline:has-text('Canary r2')")
            page.wait_for_selector("#plan [data-state='current']")
            wait_until(lambda: api("GET", "status")["deployment"]["phase"] == "paused", 20,
                       "the canary paused")
            page.wait_for_selector("#phase:has-text('paused')")
            page.wait_for_timeout(2500)  # a few points in the charts, for the screenshot
            page.screenshot(path=str(artifacts / "dashboard-canary.png"), full_page=True)

            page.click("#actions button[data-action='abort']")
            dialog = page.locator("#confirm")
            assert dialog.is_visible()
            dialog.locator("#confirm-reason").fill("e2e: the dashboard aborts")
            dialog.locator("[data-testid='confirm']").click()
            wait_until(lambda: watch.seen[-1][2] == {"r1": 100}, 30, "the proxy routing all to r1")
            # r2 may stay in the bar at 0% (no width) while its instances drain.
            page.wait_for_function("() => [...document.querySelectorAll('#traffic-bar .seg')].every("
                                   "s => Number(s.dataset.weight) === (s.dataset.revision === 'r1' ? 100 : 0))",
                                   timeout=5000)
            wait_until(lambda: api("GET", f"deployments/{deployment}")["phase"] == "aborted",
                       30, "the deployment aborted")
            page.wait_for_selector(f"#history tr[data-deployment='{deployment}'] .outcome:has-text('aborted')")
            events = [e for e in api("GET", f"events?deployment={deployment}&limit=500")["events"]]
            assert any("e2e: the dashboard aborts" in e["text"] for e in events), events[-5:]
            load.wait_for_responses(load.progress()[0] + 300)
            result = load.stop()
            page.screenshot(path=str(artifacts / "dashboard-aborted.png"), full_page=True)
            assert not errors, errors
    finally:
        watch.close()
    assert result.sent > 600 and result.failed() == 0, result.summary()


SHADOW = ("strategy={kind: canary, steps: [{shadow: {duration: 30s, max_diff_rate: 0.002, "
          "ignore: ['$.time', '$.request_id']}}, {weight: 30}]}")


def test_the_dashboard_shows_a_shadows_differing_pairs(served, tmp_path):
    """A new revision whose /item differs on 5% of answers fails its shadow: the page's
    Shadow card says so, with the request line and where the answers first differ."""
    service, api = served
    dashboard = api("GET", "status")["dashboard"]
    with browser(tmp_path) as (new_page, errors), \
            LoadInBackground(f"http://{HOST}:{service.port}/item?id=7", connections=4,
                             rate=1000, duration=60) as load:
        page = new_page()
        page.goto(f"{dashboard}#token={api.token}")
        wait_live(page, errors)
        assert page.locator("#shadow").is_hidden()  # no deployment had a shadow
        load.wait_for_responses(300)
        deployment = api("POST", "deployments", {
            "version": "v2", "set": [SHADOW, "app.env.APP_DIFF_RATE=0.05"]})["id"]
        wait_until(lambda: api("GET", f"deployments/{deployment}")["phase"] == "aborted", 60,
                   "the shadow failing the deployment")
        page.wait_for_selector("#shadow-body:has-text('failed')", timeout=5000)
        body = page.locator("#shadow-body").inner_text()
        assert f"r2 · deployment {deployment}" in body and "differed" in body, body
        assert "GET /item?id=7 HTTP/1.1" in body and "$.price" in body, body
        assert "stable 259 · shadow 260" in body, body
        result = load.stop()
        artifacts = Path(os.environ.get("ZERODOWN_ARTIFACTS") or tmp_path)
        artifacts.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(artifacts / "dashboard-shadow.png"), full_page=True)
        assert not errors, errors
    assert result.failed() == 0 and result.by_header["X-Version"].get("v2", 0) == 0, \
        result.summary()


# A reason is user text: the page shows it as text, never as markup.
WHY = '<img src=x onerror="window.zdInjected = 1">ship the <b>new</b> checkout'


def test_the_dashboard_says_who_asked_why_and_when_it_settled(served_deaf, tmp_path):
    """The summary, the plan card and the history say who asked for the deployment and why
    (escaped), and after its end the summary and its history row say "settling…" while
    v1's instances exit, then "settled"."""
    service, api = served_deaf
    dashboard = api("GET", "status")["dashboard"]
    with browser(tmp_path) as (new_page, errors):
        page = new_page()
        page.goto(f"{dashboard}#token={api.token}")
        wait_live(page, errors)
        page.wait_for_selector("#subline .part:has-text('settled')")  # `up`'s, long over
        id = api("POST", "deployments", {"version": "v2", "set": [CANARY], "reason": WHY})["id"]
        wait_until(lambda: api("GET", f"deployments/{id}")["phase"] == "paused", 20, "the canary paused")
        by = api("GET", f"deployments/{id}")["by"]
        assert by == "browser-test"  # the token's name
        page.wait_for_selector(f"#subline .part:has-text('by {by}')")
        subline = page.locator("#subline").inner_text()
        assert f"“{WHY}”" in subline, subline
        row = page.locator(f"#history tr[data-deployment='{id}']")
        assert by in row.inner_text() and WHY in row.inner_text(), row.inner_text()
        assert row.locator(".reason").get_attribute("title") == WHY
        assert row.locator(".settle").count() == 0, "running: neither settled nor settling"
        # the plan card says whose deployment it shows, and why (cut short, whole in its title)
        meta = page.locator("#plan-meta")
        page.wait_for_selector(f"#plan-meta:has-text('by {by}')")
        assert f"by {by}: “{WHY[:59]}…”" in meta.inner_text(), meta.inner_text()
        assert meta.get_attribute("title") == WHY
        # with a name and a reason beside it, every column still in sight: the last one
        # (took) was scrolled out of the history card at any width (the page is capped)
        wrap = page.locator("#history").locator("xpath=ancestor::div[contains(@class, "
                                                "'table-wrap')]")
        assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth"), \
            wrap.evaluate("w => [w.scrollWidth, w.clientWidth]")

        api("POST", f"deployments/{id}/promote", {"full": True, "reason": "enough"})
        page.wait_for_selector("#subline .part:has-text('settling…')", timeout=15000)
        assert api("GET", f"deployments/{id}")["phase"] == "succeeded"
        assert service.pids(revision=1), "v1's instances exited already: no window shown"
        subline = page.locator("#subline").inner_text()
        assert f"deployment {id} succeeded" in subline and f"by {by}" in subline, subline
        assert f"“{WHY}”" in subline, subline  # the deployment's why, not the promotion's
        settle = f"#history tr[data-deployment='{id}'] .settle"
        assert page.locator(settle).inner_text() == "settling…"  # each row says it too
        page.wait_for_selector("#subline .part:has-text('settled')", timeout=3 * GRACE * 1000)
        page.wait_for_selector(f"{settle}:text-is('settled')", timeout=5000)
        assert page.locator("#history tr[data-deployment='1'] .settle").inner_text() == "settled"
        assert api("GET", "status")["settled"] is True
        assert not service.pids(revision=1)
        assert page.locator("#summary img, #history img").count() == 0
        assert page.evaluate("window.zdInjected") is None
        assert not errors, errors
