"""A shadow as people read it: its counts and its differing pairs, for `zerodown status`,
the event log and the dashboard's JSON. Pure.

    GET /item?id=7 HTTP/1.1: $.price: stable 259 · shadow 260
"""

from __future__ import annotations

from dataclasses import dataclass

STATES = {"running": "running", "pass": "passed", "fail": "failed", "inconclusive": "undecided",
          "stopped": "stopped before a verdict"}


@dataclass(frozen=True)
class ShadowView:
    """The latest deployment's shadow: users' requests copied to the new revision and its
    answers compared with stable's (engine/shadowing.py), live while it runs."""

    deployment: int
    revision: int
    state: str  # running | pass | fail | inconclusive | stopped (no verdict: paused, aborted)
    compared: int = 0
    differing: int = 0
    dropped: int = 0
    timed_out: int = 0
    failed: int = 0
    examples: tuple[dict, ...] = ()  # {request, what, where, stable, shadow}, newest last


def pair_text(example: dict) -> str:
    """One differing pair: the request line, where the answers first differ (`status`, a
    header's name, a JSON path, `byte N`), both sides."""
    return (f"{example.get('request', '?')}: {example.get('where', '?')}: stable "
            f"{example.get('stable', '?')} · shadow {example.get('shadow', '?')}")


def shadow_lines(v: ShadowView, shown: int = 3) -> list[str]:
    """`shadow of r2 (deployment 4): failed; 2,099 copies compared, 22 differed (1.05%)` and
    the latest differing pairs, newest first, each once (with how often it was seen)."""
    share = f" ({100 * v.differing / v.compared:.3g}%)" if v.compared else ""
    lost = ", ".join(f"{n:,} {what}" for n, what in ((v.dropped, "dropped"),
                                                      (v.timed_out, "timed out"),
                                                      (v.failed, "failed")) if n)
    lines = [f"  shadow of r{v.revision} (deployment {v.deployment}): "
             f"{STATES.get(v.state, v.state)}; {v.compared:,} copies compared, "
             f"{v.differing:,} differed{share}" + (f"; {lost}" if lost else "")]
    pairs = [pair_text(ex) for ex in reversed(v.examples)]
    for pair in list(dict.fromkeys(pairs))[:shown]:
        times = pairs.count(pair)
        lines.append(f"    {pair}" + (f" (×{times})" if times > 1 else ""))
    return lines
