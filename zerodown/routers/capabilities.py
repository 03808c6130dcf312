"""What each router can do, checked against what the configured strategy will ask of it.

`zerodown validate`, `plan` and every deployment (its config is validated with its
--set overrides) call refusals(): a strategy that needs something the load balancer
cannot do is refused with the key to change, before a single instance starts, never
by the router half-way through a deployment.

    refusals("nginx", {}, ABTestStrategy(sticky=Sticky("cookie", "my-ab")))
    -> [("strategy.sticky.name", "the nginx router ...")]

Each router declares its own check (one function: what it asks -> refusals), in
CHECKS; a router kind without one can do everything a strategy asks. Shadow traffic
(a canary's `shadow` step, blue/green's `pre_promotion_shadow`) needs a load balancer
that copies requests and compares answers (Router.shadow): MIRRORS names those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from zerodown.model import Sticky

Refusal = tuple[str, str]  # (config key, why and what would do)


@dataclass(frozen=True)
class Read:
    """A header or cookie a routing rule reads, and the config key that asked for it."""

    key: str
    kind: str  # "header" | "cookie"
    name: str


@dataclass(frozen=True)
class Asks:
    """What a strategy will put in routing tables beyond weights."""

    rules: tuple[Read, ...] = ()
    sticky: tuple[str, Sticky] | None = None  # (config key, the split's stickiness)
    shadows: tuple[str, ...] = ()  # config keys of the shadows it runs
    unsafe_shadows: tuple[str, ...] = ()  # ... of those copying a method beyond GET/HEAD/OPTIONS


def asks(strategy: Any) -> Asks:
    """The rules and stickiness `strategy` will ask for: its preview header (blue/green,
    canary), its match rules (canary, A/B) and its sticky split (canary, A/B)."""
    rules = []
    if getattr(strategy, "preview_header", None):
        rules.append(Read("strategy.preview_header", "header", strategy.preview_header))
    for i, m in enumerate(getattr(strategy, "match", ())):
        kind = "header" if m.header is not None else "cookie"
        rules.append(Read(f"strategy.match[{i}].{kind}", kind, getattr(m, kind)))
    sticky = getattr(strategy, "sticky", None)
    # the options' SAFE_METHODS, not the proxy mirror's copy: every config load runs this,
    # and the mirror imports asyncio and httptools (~10 ms of a command's start)
    from zerodown.strategies.shadow_options import SAFE_METHODS, shadows
    found = shadows(strategy)
    return Asks(tuple(rules), ("strategy.sticky", sticky) if sticky is not None else None,
                tuple(key for key, _ in found),
                tuple(f"{key}.methods" for key, cfg in found
                      if set(cfg.methods) - set(SAFE_METHODS)))


# Routers whose load balancer mirrors requests to a shadow and compares the answers:
# the embedded proxy itself; nginx's `mirror` through zerodown's comparator, which replays
# each copy to stable too (Diffy-style, shadow/comparator.py): safe methods only.
MIRRORS = frozenset({"embedded", "nginx"})
REPLAYS_TO_STABLE = frozenset({"nginx"})
# Why the others cannot (what a user would look for in their load balancer's manual).
CANNOT_MIRROR = {
    "haproxy": "HAProxy has no request mirroring of its own (only through an SPOE agent such "
               "as spoa-mirror, which zerodown does not run) and never sees a copy's answer",
}


# Which routers one load balancer may serve several zerodown.yaml files with (router.shared:
# services by Host and path prefix on one listener). HAProxy and nginx serve one service
# each: two files would each render the whole configuration of one HAProxy or nginx.
SHARES = ("embedded",)
SHARED_KEYS = ("shared", "hosts", "path_prefix", "strip_path_prefix")


def sharing_refusals(kind: str, options: dict) -> list[Refusal]:
    """router.shared (and its hosts, path_prefix) on a router that cannot share."""
    if kind in SHARES:
        return []
    return [(f"router.{key}", f"the {kind} router serves one service per {kind}: several "
                              f"zerodown.yaml files share only the embedded proxy (router: "
                              f"{{kind: embedded, shared: NAME, hosts: [...]}}), or give each "
                              f"service its own {kind} and listen address")
            for key in SHARED_KEYS if key in options]


def refusals(kind: str, options: dict, strategy: Any) -> list[Refusal]:
    """What router `kind` (with its `router:` options) cannot do of what `strategy` asks."""
    check = _check(kind)
    wants = asks(strategy)
    out = check(wants, options) if check is not None else []
    if kind not in MIRRORS:
        why = f": {CANNOT_MIRROR[kind]}" if kind in CANNOT_MIRROR else ""
        out += [(key, f"the {kind} router cannot copy users' requests to the new revision and "
                      f"compare its answers (shadow traffic){why}; use router: embedded (the "
                      f"embedded proxy does it), or remove the shadow (a preview header and "
                      f"before_traffic hooks test the new revision before users reach it)")
                for key in wants.shadows]
    elif kind in REPLAYS_TO_STABLE:
        out += [(key, f"the {kind} router compares a copy by replaying it to the stable "
                      f"revision too ({kind}'s mirror throws the copy's answer away): a method "
                      f"beyond GET, HEAD and OPTIONS would be done twice on stable; copy only "
                      f"those, or use router: embedded (it compares the answer users got)")
                for key in wants.unsafe_shadows]
    return out


def _check(kind: str) -> Callable[[Asks, dict], list[Refusal]] | None:
    # Imported here, the kind's own only: the router modules are heavier than a config
    # check needs up front, and a config names one router.
    if kind == "haproxy":
        from zerodown.routers.haproxy_render import capability_refusals as check
    elif kind == "nginx":
        from zerodown.routers.nginx_render import capability_refusals as check
    else:
        return None
    return check
