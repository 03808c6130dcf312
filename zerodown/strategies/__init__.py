"""Pure planners: (strategy parameters, current state, target) -> Plan.

    from zerodown.strategies import plan_for   # planning.py, loaded on first use

The package's names are planning.py's, loaded when one is first asked for: loading a
config imports strategies.options, and so this package, before it; with the planners
imported here every config load (each `zerodown deploy`'s check before its request)
imported every strategy's planner, zerodown.plan and zerodown.model, none of which a
config uses (benchmarks/README.md, session 18: the command's own start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zerodown.strategies.planning import (GO_BACK_BY_OWN_RULES, PLANNERS, abort_plan,
                                              instances_on, plan_for, refuse_downtime,
                                              rollback_plan, rollback_strategy, target_for)

__all__ = ["GO_BACK_BY_OWN_RULES", "PLANNERS", "abort_plan", "instances_on", "plan_for",
           "refuse_downtime", "rollback_plan", "rollback_strategy", "target_for"]


def __getattr__(name: str):
    """planning.py's `name` (PEP 562: asked only for a name this module lacks; a submodule
    not yet imported is asked for too, by `from zerodown.strategies import rolling`)."""
    if name in __all__:
        import zerodown.strategies.planning as planning
        return getattr(planning, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
