"""Take the README's dashboard screenshot: a canary paused for a person at 50%.

    .venv/bin/python scripts/dashboard_screenshot.py docs/dashboard.png

Brings up the example service in a temp folder (the same service the browser test,
tests/e2e/test_dashboard_browser.py, drives: 2 instances, the embedded proxy, the
controller with its API on TCP), keeps a load generator on it so the charts have data,
deploys v2 (as the token `ci`), then v3 as a canary (as the token `alice`, with a
reason), waits until that canary holds at 50% for a person after its analysis passed,
and takes a full-page screenshot of the dashboard with Debian's chromium driven by
Playwright. Then `zerodown down`, and any process of the temp folder left is killed by
pid. pngquant (`apt-get install pngquant`), when installed, makes the PNG about a third
of chromium's size; without it the PNG is kept as chromium wrote it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# The tests' helpers: their service, its teardown by pid and the browser's flags.
from tests.support import HOST, free_port, wait_until  # noqa: E402
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, sync_playwright  # noqa: E402
from tests.support.cli import Service  # noqa: E402
from zerodown.engine.lifecycle import Phase  # noqa: E402
from zerodown.loadgen import LoadInBackground  # noqa: E402

# v3's canary: two steps to 25%, an analysis, then 50% held until someone decides.
CANARY = ("strategy={kind: canary, steps: [{weight: 10}, {pause: 5s}, {weight: 25}, "
          "{analysis: {success_rate: 0.99, latency_p99: 300ms, interval: 5s}}, "
          "{weight: 50}, {pause: {}}]}")
VIEWPORT = {"width": 1400, "height": 900}
LOAD_RATE = 200  # requests/s through the proxy: lines in the charts, little CPU
ALONE, SPLIT = 20, 15  # seconds of traffic on v2 alone, and split 50/50, in the charts


class Api:
    """The controller's HTTP API, as the dashboard reaches it: with a token."""

    def __init__(self, port: int, token: str):
        self.base, self.token = f"http://127.0.0.1:{port}/api/v1/", token

    def get(self, path: str) -> dict:
        request = urllib.request.Request(self.base + path,
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())


def token(service: Service, name: str) -> Path:
    """A token file for `name`: what the deployments made with it say asked for them."""
    path = service.root / f"{name}.token"
    path.write_text(service.run("token", "create", name).stdout.split()[0] + "\n")
    return path


def as_token(service: Service, api_port: int, token_file: Path, *args: str) -> str:
    """A command run through the TCP API with a token, as a CI job or a laptop would."""
    return service.run("--server", f"http://127.0.0.1:{api_port}", "--token-file",
                       str(token_file), *args).stdout


def held_at_50_after_analysis(api: Api, deployment: int) -> bool:
    """The canary paused for a person at 50%, its analysis step done (it passed: a failed
    one would have aborted the deployment)."""
    d = api.get(f"deployments/{deployment}")
    if Phase(d["phase"]).terminal:
        raise RuntimeError(f"v3's canary ended {d['phase']} before it held at 50% "
                           "(`zerodown history -v` in the folder kept says why)")
    steps = d.get("plan_steps", [])
    current = next((s["text"] for s in steps if s["state"] == "current"), "")
    analysed = any(s["text"].startswith("analyze") and s["state"] == "done" for s in steps)
    return d["phase"] == "paused" and analysed and "50%" in current


def service_in(folder: Path) -> tuple[Service, int]:
    """The service's zerodown.yaml, its controller's API on TCP too: (service, API port)."""
    api_port = free_port()
    return Service(folder, extra=f"controller:\n  listen: 127.0.0.1:{api_port}\n"), api_port


def traffic(load: LoadInBackground, seconds: float) -> None:
    """Until `seconds` more of the load went through: a stretch of the charts."""
    load.wait_for_responses(load.progress()[0] + int(seconds * LOAD_RATE), timeout=3 * seconds)


def canary_held(service: Service, api_port: int, load: LoadInBackground) -> Api:
    """v2 by `ci`, then v3's canary by `alice`, held at 50% for a person: alice's Api."""
    ci, alice = token(service, "ci"), token(service, "alice")
    as_token(service, api_port, ci, "deploy", "v2", "-m", "nightly build 1204")
    traffic(load, ALONE)
    as_token(service, api_port, alice, "deploy", "v3", "--set", CANARY,
             "-m", "ship the new checkout", "--detach")
    api = Api(api_port, alice.read_text().strip())
    deployment = api.get("deployments/current")["id"]
    wait_until(lambda: held_at_50_after_analysis(api, deployment), 180,
               "the canary held at 50% after its analysis")
    traffic(load, SPLIT)
    return api


def shoot(dashboard: str, token: str, out: Path, folder: Path) -> None:
    """A full-page screenshot of the dashboard once it is live and shows the pause."""
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(dir=folder, prefix="chromium-"), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_FLAGS, viewport=VIEWPORT, device_scale_factor=1)
        try:
            page = context.new_page()
            page.goto(f"{dashboard}#token={token}")
            page.wait_for_function("document.querySelector('#link').dataset.state === 'live'")
            page.wait_for_selector("#phase:has-text('paused')")
            page.wait_for_selector("#subline .part:has-text('by alice')")
            page.wait_for_selector("#traffic-bar .seg[data-weight='50']")
            page.wait_for_selector("#charts path")
            page.mouse.move(0, 0)  # no hover tooltip in the picture
            # Transitions finished: the traffic bar grows to its widths over 0.7 s.
            page.screenshot(path=str(out), full_page=True, animations="disabled")
        finally:
            context.close()


def optimize(raw: Path, out: Path) -> str:
    """The PNG at `out`, through pngquant when installed; says which."""
    if shutil.which("pngquant") is None:
        shutil.copyfile(raw, out)
        return "as chromium wrote it (pngquant not installed)"
    done = subprocess.run(["pngquant", "--quality=70-95", "--speed=1", "--strip", "--force",
                           "--output", str(out), str(raw)], capture_output=True, text=True)
    if done.returncode != 0:  # 99: not within the quality asked
        shutil.copyfile(raw, out)
        return f"as chromium wrote it (pngquant exited {done.returncode}: {done.stderr.strip()})"
    return f"pngquant'd from {raw.stat().st_size // 1024} KB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the PNG to write, e.g. docs/dashboard.png")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, state)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists() or sync_playwright is None:
        print(f"needs Debian's chromium ({CHROMIUM}) and playwright: bash scripts/setup.sh",
              file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="zerodown-shot-"))
    service, api_port = service_in(folder)
    try:
        service.run("up")
        # From v1 on: every request while v2 and v3 ship is counted (the summary: 0 failed).
        with LoadInBackground(f"http://{HOST}:{service.port}/", connections=4,
                              rate=LOAD_RATE, max_duration=600) as load:
            api = canary_held(service, api_port, load)
            raw = folder / "raw.png"
            shoot(api.get("status")["dashboard"], api.token, raw, folder)
            result = load.stop()
        how = optimize(raw, args.out)
        print(f"{args.out}: {args.out.stat().st_size // 1024} KB, {how}; "
              f"load meanwhile: {result.summary()}")
    except (AssertionError, TimeoutError, RuntimeError, OSError) as e:
        # A command that failed, a state never reached: what, and where to look.
        print(f"no screenshot: {e}", file=sys.stderr)
        args.keep = True
        return 1
    finally:
        left = service.cleanup()
        if left:
            print(f"killed processes left after `zerodown down`: {left}", file=sys.stderr)
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
