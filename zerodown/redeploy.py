"""`zerodown deploy V` while V serves: a new revision of the same version, every instance
restarted, with zero downtime (what `kubectl rollout restart` is to Kubernetes, and a
Kamal redeploy of the same version). Allowed, never silent: said in the deployment's
first events (the store writes it with the deployment) before any step acts. Pure."""

from __future__ import annotations

from zerodown.config_diff import changes
from zerodown.plan import ServiceState

NAMED = 3  # changed settings named in the note; the rest are counted


def restart_note(state: ServiceState, serving_version: str, serving_config: dict,
                 revision: int, version: str, config: dict) -> str | None:
    """`v1 already serves shop (r3): this restarts every instance as r4 (...)`, or None when
    `version` is not the one the routed stable revision runs (a new version, or nothing
    serves: after `zerodown down` the same version is a start, not a restart)."""
    stable = state.stable
    if version != serving_version or not any(i.revision == stable for i in state.routed):
        return None
    changed = [key for key, _, _ in changes(serving_config.get("source"), config.get("source"))
               if key != "strategy" and not key.startswith("strategy.")]
    if not changed:
        why = "nothing else changed: a restart"
    else:
        more = f" and {len(changed) - NAMED} more" if len(changed) > NAMED else ""
        why = f"with the file's changed {', '.join(changed[:NAMED])}{more}"
    return (f"{version} already serves {state.service} (r{stable}): this restarts every "
            f"instance as r{revision} ({why})")
