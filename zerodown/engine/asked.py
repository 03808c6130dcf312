"""A paused deployment's missed actions, acted on in the order they were asked.

A signal (Store.signal) sets the deployment's phase at once, in the transaction that
records it as an event naming its verb (`asked`), so `status` and the API's answer say
the new phase. The engine acts on a phase when it next looks: a resume then a pause
within that time left the phase paused again, and the resume was lost (the engine saw
only the later state). The events are the durable, ordered record; before a paused
engine waits, it acts on what it missed since the step in progress began, oldest first:

- a resume or promote at a Pause step in progress (a promote only, for a timed pause)
  ends the step as if the engine had seen it ("resumed", "promoted"); the later pause
  then holds the deployment before the next step (Store.pause_ended_by; a timed step a
  resume left running reads it too: a promote, a pause, a resume before it looked);
- a promote --full since the plan was last made gives it the promote plan, which the
  later pause holds.

A pause and an abort need nothing: the phase they leave is their effect (an abort is
never undone). A resume then a pause elsewhere (a deployment paused mid-step) would have
run the step again until the pause interrupted it: waiting on is the same.
"""

from __future__ import annotations

from zerodown.engine import replanning
from zerodown.engine.records import Deployment
from zerodown.plan import Pause


def act_on(engine, d: Deployment) -> bool:
    """Act on the first missed action of paused `d`: True if it did (look again)."""
    store = engine.store
    record = store.step_record(d.id, d.cursor) if d.step is not None else None
    if isinstance(d.step, Pause) and record is not None and record.in_progress:
        # (an A/B test's hold: only a promote ends it, as a timed pause; engine/lifecycle.py)
        verb = store.pause_ended_by(d.id, d.cursor,
                                    timed=d.step.duration is not None or d.step.decision)
        if verb is not None:
            store.finish_step(d.id, d.cursor, "promoted" if verb == "promote" else "resumed")
            return True
    if d.plan_kind != "promote" and "promote-full" in store.asked(d.id, store.began(d.id)):
        replanning.replan(engine, d, "promote")
        return True
    return False
