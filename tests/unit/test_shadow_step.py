"""Shadow traffic as a deployment step (issue 15, part 2): config, plans, the diff-rate check,
and the engine on fakes -- a revision that answers differently is stopped in the shadow
step before any user is routed to it; one that answers alike goes on."""

from __future__ import annotations

import pytest

from tests.support.unit_config import shop_config
from zerodown.analysis.checks import DiffRate, assess
from zerodown.analysis.evidence import Counts
from zerodown.analysis.judge import Judge
from zerodown.gather import shadow_view
from zerodown.engine.lifecycle import Phase
from zerodown.engine.runner import Engine
from zerodown.engine.store import Store
from zerodown.errors import ConfigError
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime
from zerodown.model import InstanceRef, Slot
from zerodown.plan import Route, ServiceState, Shadow, Target
from zerodown.plan_data import step_from_data, step_to_data
from zerodown.routers.capabilities import refusals
from zerodown.strategies import abort_plan, plan_for
from zerodown.strategies.shadow_options import warnings

SHADOW = ('{shadow: {duration: 20s, ignore: ["$.time", "$.items[*].id"], headers: [ETag], '
          'max_diff_rate: 0.001}}')


def config(strategy: str, router: str = "embedded", on_failure: str = "rollback"):
    return shop_config(router=f"{{kind: {router}}}", strategy=strategy, on_failure=on_failure)


def errors(strategy: str, router: str = "embedded") -> str:
    with pytest.raises(ConfigError) as e:
        config(strategy, router)
    return str(e.value)


STATE = ServiceState("shop", 1, tuple(InstanceRef(1, Slot(i)) for i in range(3)))


# --- config ---------------------------------------------------------------------------

def test_a_canary_shadow_step_and_a_blue_green_pre_promotion_shadow_parse():
    s = config(f"{{kind: canary, steps: [{SHADOW}, {{weight: 10}}]}}").strategy.steps[0].shadow
    assert (s.duration, s.max_diff_rate, s.methods, s.headers) == (20, 0.001, ("GET", "HEAD"),
                                                                   ("ETag",))
    assert s.ignore == ("$.time", "$.items[*].id") and s.body == "json" and s.percent == 100
    bg = config("{kind: blue-green, pre_promotion_shadow: {percent: 50, body: exact}}").strategy
    assert bg.pre_promotion_shadow.percent == 50 and bg.pre_promotion_shadow.body == "exact"


@pytest.mark.parametrize("shadow, said", [
    ("{body: xml}", "strategy.steps[0].shadow.body: must be one of json, exact, none"),
    ("{methods: [GET, FETCH]}", "strategy.steps[0].shadow.methods[1]: must be one of GET, HEAD"),
    ("{ignore: [time]}", "strategy.steps[0].shadow.ignore[0]: 'time': a JSON path starts with $"),
    ("{percent: 0}", "strategy.steps[0].shadow.percent: must be a number from 0.01 to 100"),
    ("{max_diff_rate: 2}", "strategy.steps[0].shadow.max_diff_rate: must be a number from"),
    ("{duraton: 5s}", 'unknown key "duraton" (did you mean "duration"?)'),
    ("{methods: [GET, GET]}", "methods: GET listed twice"),
])
def test_a_bad_shadow_names_the_file_the_key_and_what_is_valid(shadow, said):
    text = errors(f"{{kind: canary, steps: [{{shadow: {shadow}}}, {{weight: 10}}]}}")
    assert said in text and "zerodown.yaml" in text


def test_a_shadow_after_users_reach_the_new_revision_is_refused():
    assert "strategy.steps[1].shadow: comes before the first {weight: N} above 0" in errors(
        "{kind: canary, steps: [{weight: 10}, {shadow: {}}]}")


@pytest.mark.parametrize("steps", ["[{shadow: {}}, {weight: 10}]",
                                   "[{shadow: {}}, {pause: 5s}, {weight: 10}]",
                                   "[{pause: 5s}, {shadow: {}}, {shadow: {}}, {weight: 10}]"])
def test_match_rules_are_held_back_while_a_shadow_runs_and_apply_again_after(steps):
    strategy = config(f"{{kind: canary, steps: {steps}, match: [{{header: X-Beta, equals: '1'}}],"
                      " preview_header: X-Preview}").strategy
    plan = plan_for(strategy, STATE, Target(2, 3))
    for i, step in enumerate(plan.steps):
        if isinstance(step, Shadow):
            route = next(s for s in reversed(plan.steps[:i]) if isinstance(s, Route))
            assert not route.traffic(2) and [r.header for r in route.rules] == ["X-Preview"]
    last = max(i for i, s in enumerate(plan.steps) if isinstance(s, Shadow))
    after = next(s for s in plan.steps[last:] if isinstance(s, Route))
    assert "X-Beta" in [r.header for r in after.rules]  # back with the step after


def test_haproxy_cannot_mirror_and_refuses_a_shadow_at_validate_naming_what_would():
    text = errors(f"{{kind: canary, steps: [{SHADOW}, {{weight: 10}}]}}", "haproxy")
    assert "strategy.steps[0].shadow: the haproxy router cannot copy users' requests" in text
    assert "use router: embedded" in text and "spoa-mirror" in text  # why not
    bg = config("{kind: blue-green, pre_promotion_shadow: {}}").strategy
    assert refusals("haproxy", {}, bg)[0][0] == "strategy.pre_promotion_shadow"
    assert refusals("embedded", {}, bg) == refusals("nginx", {}, bg) == []


def test_nginx_shadows_only_safe_methods_since_its_comparator_replays_to_stable():
    safe = config(f"{{kind: canary, steps: [{SHADOW}, {{weight: 10}}]}}").strategy
    assert refusals("nginx", {}, safe) == []
    unsafe = config("{kind: canary, steps: [{shadow: {methods: [GET, POST]}}, "
                    "{weight: 10}]}").strategy
    [(key, why)] = refusals("nginx", {}, unsafe)
    assert key == "strategy.steps[0].shadow.methods" and "done twice on stable" in why
    assert refusals("embedded", {}, unsafe) == []


def test_unsafe_methods_are_copied_only_when_listed_and_then_warned_about():
    safe = config(f"{{kind: canary, steps: [{SHADOW}, {{weight: 10}}]}}").strategy
    assert warnings(safe) == []
    risky = config("{kind: canary, steps: [{shadow: {methods: [GET, POST]}}, {weight: 10}]}")
    [line] = warnings(risky.strategy)
    assert "strategy.steps[0].shadow.methods copies POST requests" in line
    assert "sent twice" in line


# --- plans ----------------------------------------------------------------------------

def test_a_canary_shadow_starts_the_canary_routes_it_no_user_then_shadows_before_any_weight():
    plan = plan_for(config(f"{{kind: canary, steps: [{SHADOW}, {{weight: 50}}]}}").strategy,
                    STATE, Target(2, 3))
    at = next(i for i, s in enumerate(plan.steps) if isinstance(s, Shadow))
    before = plan.steps[:at]
    assert [type(s).__name__ for s in before] == ["Start", "WaitHealthy", "Route"]
    assert not before[2].traffic(2) and before[2].percents()[2] == 0  # no user on r2
    assert plan.steps[at].spec["max_diff_rate"] == 0.001
    assert any(isinstance(s, Route) and s.traffic(2) for s in plan.steps[at:])  # weights after
    assert "shadow: copy 100% of GET/HEAD requests to r2 for up to 20s" in plan.describe()


def test_blue_green_shadows_after_green_is_healthy_and_before_the_switch():
    plan = plan_for(config("{kind: blue-green, pre_promotion_shadow: {duration: 5s}}").strategy,
                    STATE, Target(2, 3))
    at = next(i for i, s in enumerate(plan.steps) if isinstance(s, Shadow))
    assert not any(isinstance(s, Route) and s.traffic(2) for s in plan.steps[:at])
    assert any(isinstance(s, Route) and s.traffic(2) for s in plan.steps[at:])
    first = plan_for(config("{kind: blue-green, pre_promotion_shadow: {}}").strategy,
                     ServiceState("shop", None), Target(1, 3))
    assert not any(isinstance(s, Shadow) for s in first.steps)  # nothing to compare with


def test_a_shadow_step_survives_the_store_and_an_abort_skips_it():
    step = Shadow(2, {"duration": 5.0, "ignore": ["$.time"], "max_diff_rate": 0.01})
    assert step_from_data(step_to_data(step)) == step
    assert not any(isinstance(s, Shadow) for s in abort_plan(STATE, Target(1, 3)).steps)


# --- the check ------------------------------------------------------------------------

def test_the_diff_rate_check_fails_a_one_percent_revision_and_passes_an_identical_one():
    bound = 4.6  # ln(100): a false alarm at most 1%
    bad = DiffRate(0.001).assess(Counts(2000, 20), None, bound)
    assert bad.verdict == "fail" and "1.00% of 2000 compared copies differed" in bad.evidence
    good = DiffRate(0.001).assess(Counts(20000, 0), None, bound)
    assert good.verdict == "pass"
    assert DiffRate(0.001).assess(Counts(50, 0), None, bound).verdict == "open"
    assert assess((DiffRate(0.001),), Counts(2000, 20), None, 0.01).verdict == "fail"


# --- the engine on fakes ------------------------------------------------------------------

def run(tmp_path, strategy: str, differ_every: int, on_failure: str = "rollback",
        copies: int = 1000, during=None):
    """v1, then v2 deployed on fakes: (phase, store, router, deployment id); `during(router,
    id)` runs at every sleep of v2's deployment."""
    cfg = config(strategy, on_failure=on_failure)
    store, clock = Store(str(tmp_path / "zerodown.db")), FakeClock(limit=10_000)
    router, runtime = FakeRouter(), FakeRuntime(healthy_after=1)
    router.differ_every, router.copies = differ_every, copies  # per read: 2 reads a second
    judge = Judge(lambda spec: None, clock, lambda kind, text, did: store.event("shop", kind, text,
                                                                              did), poll=0.5)
    engine = Engine(store, runtime, router, clock, cfg, judge=judge)
    engine.run(engine.deploy("v1", wait=True))
    d = engine.deploy("v2")
    if during is not None:
        clock.on_sleep = lambda clock: during(router, d)
    return engine.run(d), store, router, d


CANARY = f"{{kind: canary, steps: [{SHADOW}, {{weight: 50}}]}}"


def test_a_revision_that_answers_differently_is_aborted_in_its_shadow_before_any_user(tmp_path):
    phase, store, router, d = run(tmp_path, CANARY, differ_every=100)  # 1% of copies differ
    assert phase is Phase.ABORTED
    assert not any(r.name == "r2" and r.weight > 0 for t in router.applied for r in t.revisions)
    assert router.mirror is None and router.mirrors[-1] is None  # copying stopped
    error = store.deployment(d).error
    assert "shadow of r2 failed" in error and "unlike stable (limit 0.1%)" in error
    events = store.events(deployment=d)
    differs = [e for e in events if e.kind == "shadow.differs"]
    assert differs and "GET /items/100 HTTP/1.1: $.price: stable 10 · shadow 11" in \
        differs[0].message
    ended = [e for e in events if e.kind == "shadow.ended"][-1]
    assert ended.data["verdict"] == "fail" and ended.data["examples"]
    view = shadow_view(store, "shop")  # what status shows once it ended
    assert (view.deployment, view.revision, view.state) == (d, 2, "fail")
    assert view.differing == ended.data["differing"] and view.examples[-1]["where"] == "$.price"


def test_a_revision_that_answers_alike_passes_its_shadow_and_the_deployment_completes(tmp_path):
    phase, store, router, d = run(tmp_path, CANARY, differ_every=0)
    assert phase is Phase.SUCCEEDED and router.mirror is None
    settings = router.mirrors[0]
    assert settings["ignore"] == ["$.time", "$.items[*].id"] and settings["headers"] == ["ETag"]
    assert settings["methods"] == ["GET", "HEAD"] and settings["address"]
    assert "shadow passed" in "\n".join(e.message for e in store.events(deployment=d)
                                        if e.kind.startswith("step"))


def test_on_failure_pause_holds_a_failed_shadow_with_users_still_on_stable(tmp_path):
    phase, store, router, d = run(tmp_path, CANARY, differ_every=50, on_failure="pause")
    assert phase is Phase.PAUSED and router.mirror is None
    assert router.table.revision("r2").weight == 0


def test_a_shadows_judge_says_how_long_a_revision_that_differs_never_would_need(tmp_path):
    """Measured against a shadow that differs never, not against this one's own 1%."""
    phase, store, router, d = run(tmp_path, CANARY, differ_every=100, copies=20)  # 40 a second
    assert phase is Phase.ABORTED
    [planned] = [e.message for e in store.events(deployment=d) if e.kind == "analysis.planned"]
    assert "at 40 req/s on r2 these checks need ~" in planned, planned
    assert "as good as the stable" in planned and "would not pass" not in planned


def test_a_shadow_undecided_at_its_duration_pauses_with_no_user_on_the_new_revision(tmp_path):
    strategy = ("{kind: canary, steps: [{shadow: {duration: 2s, max_diff_rate: 0.001}}, "
                "{weight: 50}]}")
    phase, store, router, d = run(tmp_path, strategy, differ_every=0)
    assert phase is Phase.PAUSED and "shadow of r2 is inconclusive" in store.deployment(d).error
    assert router.table.revision("r2").weight == 0 and router.mirror is None


def test_a_shadow_without_a_check_watches_its_duration_and_goes_on(tmp_path):
    strategy = ("{kind: blue-green, scale_down_delay: 0s, pre_promotion_shadow: {duration: 5s, "
                "methods: [GET, POST]}}")
    phase, store, router, d = run(tmp_path, strategy, differ_every=10)
    assert phase is Phase.SUCCEEDED
    started = [e for e in store.events(deployment=d) if e.kind == "shadow.started"][-1]
    assert "warning: POST requests are sent twice" in started.message
    ended = [e for e in store.events(deployment=d) if e.kind == "shadow.ended"][-1]
    assert ended.data["differing"] > 0 and "differed" in ended.message


def test_validate_says_valid_and_warns_about_unsafe_methods(tmp_path, capsys):
    from zerodown.cli import main
    path = tmp_path / "zerodown.yaml"
    path.write_text("service: shop\nlisten: 127.0.0.1:8080\napp: {command: app}\nstrategy: "
                    "{kind: canary, steps: [{shadow: {methods: [GET, DELETE]}}, {weight: 10}]}\n")
    assert main(["-f", str(path), "validate"]) == 0
    out = capsys.readouterr()
    assert "valid" in out.out
    assert f"{path}: warning: strategy.steps[0].shadow.methods copies DELETE requests" in out.err


def test_a_mirror_lost_mid_shadow_is_put_back_and_the_counts_go_on(tmp_path):
    """A proxy restarted during the step starts without a mirror: the step puts it back."""
    lost = []

    def restart_proxy(router, d):
        if router.mirror is not None and router.mirror["compared"] >= 2000 and not lost:
            lost.append(router.mirror)
            router.mirror = None
    phase, store, router, d = run(tmp_path, CANARY, differ_every=0, during=restart_proxy)
    assert phase is Phase.SUCCEEDED and lost
    puts = [m for m in router.mirrors if m is not None]
    assert len(puts) == 2 and puts[0] == puts[1]  # the same settings, once more


def test_a_shadow_aborted_by_a_person_ends_with_no_verdict_and_its_mirror_off(tmp_path):
    def abort_in_shadow(router, d):
        if router.mirror is not None and router.mirror["compared"] >= 50:
            Store(str(tmp_path / "zerodown.db")).signal(d, "abort")
    phase, store, router, d = run(tmp_path, CANARY, differ_every=0, copies=10,  # undecided
                                  during=abort_in_shadow)
    assert phase is Phase.ABORTED and router.mirror is None
    view = shadow_view(store, "shop")
    assert view.state == "stopped" and view.compared >= 50
