"""Draw docs/img/*.svg: the architecture, a timeline per strategy, the deployment lifecycle.

    .venv/bin/python scripts/diagrams.py          # rewrites docs/img/ (deterministic)

The timelines are drawn from the plans the real planners make (zerodown.strategies) for
4 instances of r1 replaced by r2 (and 6 on a fleet of 3 hosts), and the lifecycle from zerodown.engine.lifecycle's
transition table, so the pictures change when the code does;
tests/unit/test_diagrams.py fails when a committed picture differs from what this draws.
Plain SVG, no dependencies: a browser or `chromium --headless --screenshot` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from zerodown.engine.lifecycle import TRANSITIONS, Phase
from zerodown.model import InstanceRef, Slot, Sticky
from zerodown.plan import (Analyze, Drain, Pause, Route, ServiceState, Shadow, Start, Stop, Target,
                           WaitHealthy)
from zerodown.schema import Amount
from zerodown.strategies import plan_for
from zerodown.strategies.options import (ABTestStrategy, BlueGreenStrategy, CanaryStrategy,
                                         InPlaceStrategy, PauseStep, RollingStrategy, WeightStep)
from zerodown.strategies.shadow_options import ShadowConfig, ShadowStep

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
OLD, NEW = "#4a78c2", "#3aa564"  # r1 (stable) and r2 (new)
PALE = {OLD: "#c9d8f0", NEW: "#c4e6cf"}
INK, GREY = "#222222", "#888888"


class Svg:
    def __init__(self, width: int, height: int):
        self.width, self.height, self.parts = width, height, []

    def rect(self, x, y, w, h, fill, stroke="none", rx=0, dash=None, opacity=None):
        extra = (f' stroke-dasharray="{dash}"' if dash else "") + \
                (f' fill-opacity="{opacity}"' if opacity is not None else "")
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" '
                          f'height="{h:.1f}" rx="{rx}" fill="{fill}" stroke="{stroke}"{extra}/>')

    def text(self, x, y, s, size=12, anchor="start", fill=INK, weight="normal", italic=False):
        style = ' font-style="italic"' if italic else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
                          f'text-anchor="{anchor}" fill="{fill}" font-weight="{weight}"{style}>'
                          f'{escape(s)}</text>')

    def line(self, x1, y1, x2, y2, stroke=INK, width=1.5, arrow=False, dash=None):
        extra = (' marker-end="url(#arrow)"' if arrow else "") + \
                (f' stroke-dasharray="{dash}"' if dash else "")
        self.parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                          f'stroke="{stroke}" stroke-width="{width}"{extra}/>')

    def path(self, d, stroke=INK, fill="none", width=1.5, arrow=False, dash=None):
        extra = (' marker-end="url(#arrow)"' if arrow else "") + \
                (f' stroke-dasharray="{dash}"' if dash else "")
        self.parts.append(f'<path d="{d}" stroke="{stroke}" fill="{fill}" '
                          f'stroke-width="{width}"{extra}/>')

    def box(self, x, y, w, h, title, lines=(), fill="#ffffff", stroke=INK, dash=None):
        self.rect(x, y, w, h, fill, stroke, rx=6, dash=dash)
        self.text(x + w / 2, y + 18 if lines else y + h / 2 + 5, title, 13, "middle",
                  weight="bold")
        for i, line in enumerate(lines):
            self.text(x + w / 2, y + 36 + 15 * i, line, 11, "middle", fill="#444444")

    def render(self) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
                f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" '
                f'font-family="{FONT}">\n'
                '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
                'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                f'<path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker></defs>\n'
                f'<rect width="100%" height="100%" fill="#ffffff"/>\n'
                + "\n".join(self.parts) + "\n</svg>\n")


# --- the architecture -----------------------------------------------------------------

def architecture() -> str:
    s = Svg(900, 520)
    s.text(20, 28, "Control plane", 15, weight="bold", fill="#555555")
    s.text(20, 330, "Data plane", 15, weight="bold", fill="#555555")
    s.line(15, 310, 885, 310, GREY, 1, dash="6 4")
    s.box(20, 50, 170, 44, "zerodown (CLI)")
    s.box(20, 110, 170, 44, "dashboard (browser)")
    s.box(20, 170, 170, 44, "your scripts, CI")
    s.box(250, 40, 330, 250, "controller service", ["one long-running process per service"],
          fill="#f5f5f5")
    for i, (title, sub) in enumerate((
            ("HTTP API + dashboard", "controller.sock (0600) · TCP + bearer token"),
            ("engine", "plan → steps; each step durable before it acts"),
            ("state store (SQLite)", "revisions, deployments, events"),
            ("watchdog", "progress deadlines, timed pauses"))):
        s.box(270, 86 + 50 * i, 290, 44, title, [sub])
    for y in (72, 132, 192):
        s.line(190, y, 268, 110 + (y - 72) / 6, arrow=True)
    s.text(218, 46, "HTTP API", 10, "middle", "#555555")
    s.box(650, 60, 220, 70, "runtime", ["local processes (ssh next)", "start · stop · probe · adopt"])
    s.line(580, 110, 648, 100, arrow=True)
    s.box(650, 180, 220, 60, "routing table", ["whole, versioned, applied", "atomically (PUT /table)"])
    s.line(580, 210, 648, 210, arrow=True)
    s.box(20, 360, 170, 50, "users")
    s.box(250, 350, 330, 80, "load balancer", ["embedded proxy (default) | HAProxy | nginx",
                                               "keeps serving when the control plane stops"])
    s.line(190, 385, 248, 385, arrow=True)
    s.line(760, 240, 500, 348, arrow=True)
    s.text(700, 300, "apply(table)", 11, "middle", "#555555")
    for i, (rev, color) in enumerate((("r1 s0", OLD), ("r1 s1", OLD), ("r2 s2", NEW),
                                      ("r2 s3", NEW))):
        x = 630 + (i % 2) * 125
        y = 340 + (i // 2) * 60
        s.rect(x, y, 110, 44, PALE[color], color, rx=6)
        s.text(x + 55, y + 27, f"instance {rev}", 12, "middle")
    s.line(580, 380, 628, 362, arrow=True)
    s.line(580, 400, 628, 420, arrow=True)
    s.path("M 870 95 C 895 95, 895 340, 870 350", GREY, arrow=True, dash="4 3")
    s.text(878, 290, "start, stop, probe", 10, "end", "#555555")
    s.text(20, 470, "A deployment never depends on a terminal: the CLI and the dashboard are clients "
           "of the controller. If the controller dies, the load", 11, fill="#444444")
    s.text(20, 488, "balancer keeps the last table and serves; the next zerodown command starts the "
           "controller again and it resumes the deployment from its store.", 11, fill="#444444")
    return s.render()


# --- timelines, from the planners ---------------------------------------------------------

DURATION = {Start: 0.0, WaitHealthy: 1.0, Route: 0.0, Drain: 0.6, Stop: 0.3, Pause: 1.6,
            Analyze: 1.6, Shadow: 1.6}
STRATEGIES = {
    "in-place": ("in-place, batch_size 1: each slot in turn out of the table, stopped, "
                 "started again", InPlaceStrategy(Amount(1))),
    "rolling-surge": ("rolling, max_surge 1, max_unavailable 0: a new instance before an old "
                      "one goes", RollingStrategy(Amount(1), Amount(0))),
    "rolling-in-turn": ("rolling, max_surge 0, max_unavailable 1: replaced in turn, capacity "
                        "dips by one", RollingStrategy(Amount(0), Amount(1))),
    "blue-green": ("blue/green: the whole green set beside blue, a preview, one switch, blue "
                   "kept for scale_down_delay", BlueGreenStrategy(auto_promote=False,
                                                                  scale_down_delay=30)),
    "canary": ("canary, steps 10% · pause · 50% · pause: the canary grows with its weight, "
               "then takes everyone",
               CanaryStrategy(steps=(WeightStep(10), PauseStep(None), WeightStep(50),
                                     PauseStep(None)))),
    "canary-shadow": ("canary, shadow first: copies of users' requests to r2, no user on it; "
                      "then 10% · pause · 50% · pause",
                      CanaryStrategy(steps=(ShadowStep(ShadowConfig(max_diff_rate=0.001)),
                                            WeightStep(10), PauseStep(None), WeightStep(50),
                                            PauseStep(None)))),
    "ab-test": ("A/B test, split 50 (sticky cohorts): held until `zerodown promote`",
                ABTestStrategy(split=50, sticky=Sticky("cookie", "zerodown-ab", 86400))),
}
# On a fleet: (title, strategy, instances, hosts) — slot i on host i mod len(hosts).
FLEET = {
    "rolling-by-host": ("rolling, batch_by host, max_surge 2, 3 hosts × 2: one host after "
                        "another",
                        RollingStrategy(Amount(2), Amount(0), batch_by="host"), 6,
                        ("app1", "app2", "app3")),
}


@dataclass
class Lane:
    """One instance's life: (time, state) changes; states: starting, ready, serving,
    draining, stopped."""

    ref: InstanceRef
    changes: list[tuple[float, str]] = field(default_factory=list)

    def state(self) -> str:
        return self.changes[-1][1] if self.changes else "absent"

    def to(self, t: float, state: str) -> None:
        if self.state() != state:
            self.changes.append((t, state))


def simulate(strategy, n: int = 4, hosts: tuple[str, ...] = ()) -> tuple[
        dict[InstanceRef, Lane], list[tuple[float, dict[int, float]]],
        list[tuple[float, float, str]], float]:
    """Run the plan on a clock: lanes per instance, traffic shares over time, marks."""
    refs = tuple(InstanceRef(1, Slot(i)) for i in range(n))
    plan = plan_for(strategy, ServiceState("shop", 1, refs), Target(2, n, hosts))
    lanes = {r: Lane(r, [(0.0, "serving")]) for r in refs}
    shares: list[tuple[float, dict[int, float]]] = [(0.0, {1: 100.0})]
    marks: list[tuple[float, float, str]] = []
    t = 0.3
    for step in plan.steps:
        took = DURATION[type(step)]
        if isinstance(step, Start):
            for r in step.instances:
                lanes.setdefault(r, Lane(r)).to(t, "starting")
        elif isinstance(step, WaitHealthy):
            for r in step.instances:
                if lanes[r].state() == "starting":
                    lanes[r].to(t + took, "ready")
        elif isinstance(step, Route):
            pct = step.percents()
            routed = {r for r in step.routed() if pct.get(r.revision, 0) > 0}
            for r, lane in lanes.items():
                if r in routed:
                    lane.to(t, "serving")
                elif lane.state() == "serving":
                    lane.to(t, "draining")
            shares.append((t, {rev: p for rev, p in pct.items() if p > 0}))
            if step.preview:
                marks.append((t, t, "preview"))
        elif isinstance(step, Drain):
            for r in step.instances:
                lanes[r].to(t + took, "ready")
        elif isinstance(step, Stop):
            for r in step.instances:
                lanes[r].to(t + took, "stopped")
        elif isinstance(step, Shadow):
            marks.append((t, t + took, "shadow"))
        elif isinstance(step, (Pause, Analyze)):
            what = "analysis" if isinstance(step, Analyze) else (
                "pause" if step.duration is None else f"pause {step.duration:g}s")
            marks.append((t, t + took, what))
        t += took
    return lanes, shares, marks, t + 0.3


def timeline(title: str, strategy, n: int = 4, hosts: tuple[str, ...] = ()) -> str:
    lanes, shares, marks, end = simulate(strategy, n, hosts)
    left, width, row = (70, 760, 20) if not hosts else (110, 720, 20)
    top = 58
    traffic_h = 70
    # on a fleet, rows by host: a host's old and new instances side by side
    rows = sorted(lanes, key=lambda r: (r.slot.index % len(hosts) if hosts else 0, r.slot.index))
    height = top + traffic_h + 30 + row * len(rows) + 70
    s = Svg(left + width + 20, height)
    s.text(left, 22, title, 13, weight="bold")
    x = lambda t: left + width * t / end  # noqa: E731
    # traffic: one stacked column per interval between two routes
    s.text(left - 8, top + 12, "traffic", 11, "end", GREY)
    for i, (t0, pct) in enumerate(shares):
        t1 = shares[i + 1][0] if i + 1 < len(shares) else end
        y = top
        for rev in sorted(pct):
            h = traffic_h * pct[rev] / 100
            s.rect(x(t0), y, x(t1) - x(t0), h, OLD if rev == 1 else NEW)
            if h >= 12 and x(t1) - x(t0) > 34:
                s.text((x(t0) + x(t1)) / 2, y + h / 2 + 4, f"{pct[rev]:.3g}%", 10, "middle",
                       "#ffffff", "bold")
            y += h
    s.rect(left, top, width, traffic_h, "none", GREY)
    # instances
    base = top + traffic_h + 24
    for n, ref in enumerate(rows):
        y = base + n * row
        on = f"{hosts[ref.slot.index % len(hosts)]}  " if hosts else ""
        s.text(left - 8, y + 13, f"{on}r{ref.revision} s{ref.slot.index}", 11, "end")
        changes = lanes[ref].changes + [(end, "end")]
        color = OLD if ref.revision == 1 else NEW
        for (t0, state), (t1, _) in zip(changes, changes[1:]):
            if state == "serving":
                s.rect(x(t0), y + 2, x(t1) - x(t0), row - 5, color)
            elif state in ("ready", "starting"):
                s.rect(x(t0), y + 2, x(t1) - x(t0), row - 5, PALE[color], color,
                       dash="3 2" if state == "starting" else None)
            elif state == "draining":
                s.rect(x(t0), y + 2, x(t1) - x(t0), row - 5, color, opacity=0.45)
    at: dict[float, list[str]] = {}
    for t0, _, what in marks:  # a preview and the pause after it start at one moment
        at.setdefault(t0, []).append(what)
    for t0, whats in at.items():
        s.line(x(t0), top - 4, x(t0), base + row * len(rows), GREY, 1, dash="2 3")
        s.text(x(t0) + 3, top - 8, " · ".join(whats), 10, fill="#555555", italic=True)
    # legend
    y = base + row * len(rows) + 22
    items = (("r1 (stable) serving", OLD, None, None), ("r2 (new) serving", NEW, None, None),
             ("starting (until healthy)", PALE[NEW], NEW, "3 2"),
             ("running, no traffic", PALE[NEW], NEW, None),
             ("draining", OLD, None, None))
    lx = left
    for label, fill, stroke, dash in items:
        s.rect(lx, y, 22, 12, fill, stroke or "none", dash=dash,
               opacity=0.45 if label.startswith("draining") else None)
        s.text(lx + 28, y + 10, label, 10)
        lx += 36 + 5.4 * len(label)
    s.text(left, y + 34, "time →  (each step drawn with a nominal length: health waits, drains "
           "and pauses take what they take)", 10, fill=GREY, italic=True)
    return s.render()


# --- the lifecycle, from its transition table --------------------------------------------

P = Phase
AT = {P.PENDING: (90, 100), P.RUNNING: (300, 100), P.SUCCEEDED: (780, 100),
      P.PAUSED: (300, 240), P.PROMOTING: (560, 240), P.ROLLING_BACK: (560, 360),
      P.ROLLED_BACK: (780, 360), P.ABORTING: (300, 460), P.ABORTED: (780, 460),
      P.FAILED: (780, 580)}
W, H = 150, 40
# Each transition: the points its arrow goes through, its words, where they sit.
EDGES = {
    (P.PENDING, P.RUNNING): ([(165, 100), (225, 100)], "first step", (195, 93, "middle")),
    (P.RUNNING, P.SUCCEEDED): ([(375, 100), (705, 100)], "plan done", (540, 93, "middle")),
    (P.RUNNING, P.PAUSED): ([(310, 120), (310, 220)], "pause", (316, 175, "start")),
    (P.PAUSED, P.RUNNING): ([(290, 220), (290, 120)], "resume, promote", (284, 175, "end")),
    (P.RUNNING, P.PROMOTING): ([(375, 112), (485, 226)], "promote --full", (436, 164, "start")),
    (P.PAUSED, P.PROMOTING): ([(375, 234), (485, 234)], "promote --full", (430, 228, "middle")),
    (P.PROMOTING, P.PAUSED): ([(485, 248), (375, 248)], "pause", (430, 262, "middle")),
    (P.PROMOTING, P.SUCCEEDED): ([(600, 220), (740, 120)], "plan done", (676, 168, "start")),
    (P.RUNNING, P.ROLLING_BACK): ([(360, 120), (485, 350)], "a step failed", (458, 312, "end")),
    (P.PROMOTING, P.ROLLING_BACK): ([(560, 260), (560, 340)], "a step failed",
                                    (566, 305, "start")),
    (P.ROLLING_BACK, P.ROLLED_BACK): ([(635, 360), (705, 360)], "done", (670, 353, "middle")),
    (P.RUNNING, P.ABORTING): ([(225, 112), (180, 112), (180, 460), (225, 460)], "abort",
                              (174, 300, "end")),
    (P.PAUSED, P.ABORTING): ([(300, 260), (300, 440)], "abort", (306, 350, "start")),
    (P.PROMOTING, P.ABORTING): ([(520, 260), (375, 452)], "abort", (452, 372, "end")),
    (P.ABORTING, P.ABORTED): ([(375, 460), (705, 460)], "back on stable", (540, 453, "middle")),
    (P.PENDING, P.ABORTED): ([(90, 120), (90, 520), (780, 520), (780, 482)],
                             "abort before the first step", (430, 514, "middle")),
}
FAIL_DRAWN = {P.ROLLING_BACK: [(600, 380), (740, 560)], P.ABORTING: [(340, 480), (705, 580)]}


def lifecycle() -> str:
    s = Svg(900, 700)
    s.text(20, 28, "A deployment's phases (zerodown/engine/lifecycle.py); every change is "
           "written to the store before it is acted on", 13, weight="bold")
    drawn = set()
    for (a, b), (points, why, (lx, ly, anchor)) in EDGES.items():
        if b not in TRANSITIONS[a]:
            raise ValueError(f"the picture has {a} -> {b}, the transition table does not")
        d = "M " + " L ".join(f"{x} {y}" for x, y in points)
        s.path(d, arrow=True)
        s.text(lx, ly, why, 10, anchor, "#444444")
        drawn.add((a, b))
    into_failed = [a for a in TRANSITIONS if P.FAILED in TRANSITIONS[a]]
    for a, points in FAIL_DRAWN.items():
        s.path("M " + " L ".join(f"{x} {y}" for x, y in points), "#999999", arrow=True,
               dash="4 3", width=1)
    others = [a.value for a in into_failed if a not in FAIL_DRAWN]
    s.text(700, 598, "also from " + ", ".join(others) + ":", 10, "end", GREY, italic=True)
    s.text(700, 612, "when going back itself fails", 10, "end", GREY, italic=True)
    missing = {(a, b) for a, bs in TRANSITIONS.items() for b in bs
               if b is not P.FAILED} - drawn
    if missing:
        raise ValueError(f"transitions without an arrow: {sorted(missing)}")
    for phase, (cx, cy) in AT.items():
        fill = {P.SUCCEEDED: "#d6f0dc", P.ROLLED_BACK: "#e8e8e8", P.ABORTED: "#e8e8e8",
                P.FAILED: "#f6d5d5"}.get(phase, "#ffffff")
        s.rect(cx - W / 2, cy - H / 2, W, H, fill, INK, rx=4 if phase.terminal else 18)
        s.text(cx, cy + 5, phase.value, 13, "middle", weight="bold")
    s.text(855, 405, "terminal phases: square corners", 10, "end", GREY, italic=True)
    s.rect(20, 626, 860, 66, "#fff8e1", "#d8b84a", rx=6)
    s.text(30, 646, "No controller running (killed, machine rebooted): the phase stays what the "
           "store says, the load balancer keeps the last table", 11)
    s.text(30, 663, "and serves. The next zerodown command (or `zerodown up`) starts the "
           "controller, which adopts the instances it finds and resumes", 11)
    s.text(30, 680, "the active deployment from the step in progress: steps are idempotent, so "
           "none runs twice in effect and no instance is orphaned.", 11)
    return s.render()


def pictures() -> dict[str, str]:
    out = {"architecture.svg": architecture(), "lifecycle.svg": lifecycle()}
    for name, (title, strategy) in STRATEGIES.items():
        out[f"timeline-{name}.svg"] = timeline(title, strategy)
    for name, (title, strategy, n, hosts) in FLEET.items():
        out[f"timeline-{name}.svg"] = timeline(title, strategy, n, hosts)
    return out


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in pictures().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
