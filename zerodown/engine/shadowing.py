"""A shadow step's run: mirror on through the router, watch, mirror off (issue 15, part 2).

    verdict, why = run(engine, deployment, step, addresses, check)

The load balancer copies users' requests (a share, safe methods unless listed) to
the new revision's first instance and compares its answers with stable's; users
only ever get stable's. With `max_diff_rate` the engine's judge decides from the
shadow's counts (compared copies as trials, differing ones as failures) by the same
sequential test as an analysis: "fail" as soon as the rate is clearly above the
limit, "pass" once clearly below it, "inconclusive" if undecided after `duration`.
Without it the copies are compared for `duration` and the step passes, having said
what it saw. Examples of differing pairs go to the event log as they come
(`shadow.differs`); the last counts with every example in `shadow.ended`.
The mirror is turned off on every way out, a failure included.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from zerodown.analysis.judge import Judge
from zerodown.analysis.sources import ShadowSource
from zerodown.errors import ZerodownError
from zerodown.plan import Analyze, Shadow
from zerodown.shadow.report import pair_text
from zerodown.strategies.shadow_options import ShadowConfig, config_of

POLL = 1.0  # seconds between two readings of the mirror's counts without a judge
LOGGED = 20  # differing pairs written to the event log per shadow (the mirror keeps the last 10)


class ShadowUnsupported(ZerodownError):
    """The load balancer cannot mirror requests (routers/capabilities.py refuses it earlier)."""


def settings(cfg: ShadowConfig, address: str) -> dict:
    """The mirror's settings (the proxy's PUT /shadow, docs/proxy.md)."""
    return {"address": address, "percent": cfg.percent, "methods": list(cfg.methods),
            "headers": list(cfg.headers), "body": cfg.body, "ignore": list(cfg.ignore),
            "timeout_s": cfg.timeout}


def counts_text(stats: dict | None) -> str:
    if not stats:
        return "no copy compared"
    compared, differing = stats.get("compared", 0), stats.get("differing", 0)
    share = f" ({100 * differing / compared:.3g}%)" if compared else ""
    lost = ", ".join(f"{stats[k]} {k.replace('_', ' ')}" for k in ("dropped", "timed_out", "failed")
                     if stats.get(k))
    return f"{compared} copies compared, {differing} differed{share}" + (f"; {lost}" if lost else "")


def run(engine: Any, d: Any, step: Shadow, addresses: Sequence[str],
        check: Callable[[], object]) -> tuple[str, str]:
    cfg = config_of(step.spec)
    router = engine.router
    if not callable(getattr(router, "shadow", None)):
        raise ShadowUnsupported(f"the load balancer ({type(router).__name__}) cannot copy users' "
                                f"requests to a shadow; the embedded proxy and nginx can")
    if not addresses:
        raise ZerodownError(f"no instance of r{step.revision} is running to copy requests to")
    wanted = settings(cfg, addresses[0])
    watch = Watch(engine, d.id, step.revision, router, wanted)
    router.shadow(wanted)
    unsafe = (f" -- warning: {', '.join(cfg.unsafe)} requests are sent twice, to stable and to "
              f"r{step.revision}, with whatever they change" if cfg.unsafe else "")
    engine.store.event(engine.service, "shadow.started",
                       f"copying {cfg.percent:g}% of {'/'.join(cfg.methods)} requests to "
                       f"r{step.revision} at {addresses[0]}{unsafe}", d.id, **wanted)
    verdict = "stopped"  # paused, aborted or promoted meanwhile, or an error: no verdict
    try:
        verdict, why = _judge(engine, d, step, cfg, watch, check)
    finally:
        last = watch.stop()
        engine.store.event(engine.service, "shadow.ended", f"r{step.revision}: "
                           f"{counts_text(last)}: {verdict}", d.id,
                           **{**(last or {}), "verdict": verdict, "revision": step.revision})
    return verdict, why


def _judge(engine: Any, d: Any, step: Shadow, cfg: ShadowConfig, watch: Watch,
           check: Callable[[], object]) -> tuple[str, str]:
    source = ShadowSource(watch.read)
    if cfg.max_diff_rate is not None and isinstance(engine.judge, Judge):
        spec = {"max_diff_rate": cfg.max_diff_rate, "max_false_alarm": cfg.max_false_alarm,
                "max_duration": cfg.duration, "min_requests": cfg.min_compared,
                "interval": min(10.0, cfg.duration), "on_inconclusive": "pause"}
        verdict, why = engine.judge(Analyze(step.revision, spec), d, check, source=source)
        return verdict, f"{why}; {counts_text(source.last)}"
    deadline = engine.clock.now() + cfg.duration  # no check, or no judge: watch and say
    while engine.clock.now() < deadline:
        check()
        source.counts(f"r{step.revision}")
        engine.clock.sleep(min(POLL, max(0.0, deadline - engine.clock.now())))
    source.counts(f"r{step.revision}")
    return "pass", counts_text(source.last)


class Watch:
    """Reads the router's mirror: puts it back if it went missing (a restarted proxy starts
    without one), and writes each new example of a differing pair to the event log."""

    def __init__(self, engine: Any, did: int, revision: int, router: Any, wanted: dict):
        self.engine, self.did, self.revision, self.router, self.wanted = (
            engine, did, revision, router, wanted)
        self.seen: set[tuple] = set()

    def read(self) -> dict | None:
        stats = self.router.shadow_stats()
        gone = stats is None or stats.get("address", self.wanted["address"]) != self.wanted["address"]
        if gone:  # a restarted proxy has none; another shadow replaced ours
            stats = self.router.shadow(self.wanted)  # counts restart: the judge's window copes
        self.note(stats)
        return stats

    def note(self, stats: dict | None) -> None:
        for ex in (stats or {}).get("examples", ()):
            key = tuple(sorted(ex.items()))
            if key not in self.seen and len(self.seen) < LOGGED:
                self.seen.add(key)
                self.engine.store.event(self.engine.service, "shadow.differs",
                                        f"r{self.revision}: {pair_text(ex)}", self.did, **ex)

    def stop(self) -> dict | None:
        return stop(self.router, self.note)


def stop(router: Any, note: Callable[[dict | None], None] = lambda stats: None) -> dict | None:
    """Mirror off; its last counts (None if none ran, or the load balancer did not answer)."""
    if not callable(getattr(router, "shadow", None)):
        return None
    try:
        last = router.shadow(None)
    except ZerodownError:
        return None
    note(last)
    return last
