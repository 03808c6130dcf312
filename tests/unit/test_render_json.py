"""`--json` for plan and history: plain JSON, the documented shape (docs/json.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zerodown.model import InstanceRef, Slot
from zerodown.plan import (Analyze, Drain, Hook, Pause, Plan, Route, ServiceState, Shadow, Share,
                           Start, Stop, Target, WaitHealthy)
from zerodown.strategies.shadow_options import ShadowConfig, spec_of
from zerodown.views import DeploymentView, EventView, RevisionLabel, status_dict
from zerodown.hosts.preflight import HostReport
from zerodown.render_json import history_dict, hosts_dict, plan_dict, step_dict

DOC = (Path(__file__).parents[2] / "docs" / "json.md").read_text()
OLD = (InstanceRef(1, Slot(0)), InstanceRef(1, Slot(1)))
NEW = (InstanceRef(2, Slot(2)),)


def deployment(**kw) -> DeploymentView:
    base = dict(id=3, kind="deploy", phase="succeeded", source=RevisionLabel(1, "v1"),
                target=RevisionLabel(2, "v2"), strategy="rolling", step=7, steps=6,
                step_text=None, plan_kind="deploy", created=1000.0, updated=1012.5)
    return DeploymentView(**{**base, **kw})


@pytest.mark.parametrize("step, facts", [
    (Start(NEW), {"action": "start", "instances": ["shop-r2-s2"]}),
    (WaitHealthy(NEW), {"action": "wait_healthy", "instances": ["shop-r2-s2"]}),
    (Route((Share(1, OLD, 90.0), Share(2, NEW, 10.0))),
     {"action": "route", "preview": False, "traffic": [
         {"revision": 1, "percent": 90.0, "instances": ["shop-r1-s0", "shop-r1-s1"]},
         {"revision": 2, "percent": 10.0, "instances": ["shop-r2-s2"]}]}),
    (Route((Share(1, OLD), Share(2, NEW))),
     {"action": "route", "preview": False, "traffic": [
         {"revision": 1, "percent": 66.6667, "instances": ["shop-r1-s0", "shop-r1-s1"]},
         {"revision": 2, "percent": 33.3333, "instances": ["shop-r2-s2"]}]}),
    (Drain(OLD[:1]), {"action": "drain", "instances": ["shop-r1-s0"]}),
    (Stop(OLD[:1]), {"action": "stop", "instances": ["shop-r1-s0"]}),
    (Pause("canary step", 30.0), {"action": "pause", "reason": "canary step", "duration_s": 30.0,
                                  "timeout_s": None, "then": None, "decision": False}),
    (Pause("held", None, 3600.0, "promote", True), {"action": "pause", "reason": "held",
                                                    "duration_s": None, "timeout_s": 3600.0,
                                                    "then": "promote", "decision": True}),
    (Analyze(2, {}, 1), {"action": "analyze", "revision": 2, "against": 1, "background": False}),
    (Hook("before_traffic"), {"action": "hook", "moment": "before_traffic"}),
])
def test_each_step_has_its_number_action_text_and_facts(step, facts):
    d = step_dict(4, step, "shop")
    assert d == {"step": 4, "text": step.describe("shop"), **facts}
    assert json.loads(json.dumps(d)) == d


def test_plan_dict_names_the_version_revision_and_what_runs():
    plan = Plan("rolling max_surge=1", ServiceState("shop", 1, OLD), Target(2, 2),
                (Start(NEW), WaitHealthy(NEW)))
    d = plan_dict(plan, "v2", deployment(phase="running", step=2), now=1010.0)
    assert (d["schema"], d["service"], d["version"], d["revision"], d["instances"], d["from"]) \
        == (1, "shop", "v2", 2, 2, [1])
    assert [s["step"] for s in d["steps"]] == [1, 2]
    assert d["active_deployment"]["phase"] == "running"
    assert plan_dict(plan, "v2", None, 0)["active_deployment"] is None


def test_plan_dict_names_the_hosts_of_each_step_on_a_fleet():
    plan = Plan("rolling", ServiceState("shop", 1, OLD), Target(2, 2, ("app1", "app2")),
                (Start(NEW), Route(()), Stop(OLD)))
    start, route, stop = plan_dict(plan, "v2", None, 0)["steps"]
    assert start["hosts"] == ["app1"] and start["text"].endswith(" (on app1)")
    assert "hosts" not in route and stop["hosts"] == ["app1", "app2"]
    assert stop["text"] == "stop shop-r1-s0, shop-r1-s1 (on app1, app2)"
    assert "hosts" not in plan_dict(Plan("rolling", plan.state, Target(2, 2), plan.steps),
                                    "v2", None, 0)["steps"][0]


def test_history_dict_lists_deployments_and_events_only_when_asked():
    views = [deployment(), deployment(id=2, phase="failed", error="boom")]
    d = history_dict(views, now=2000.0)
    assert d["schema"] == 1 and [x["id"] for x in d["deployments"]] == [3, 2]
    assert d["deployments"][0]["duration_s"] == 12.5 and "events" not in d["deployments"][0]
    assert d["deployments"][1]["error"] == "boom"
    verbose = history_dict(views, 2000.0, {3: [EventView(1001.0, "step", "start shop-r2-s2")]})
    assert verbose["deployments"][0]["events"] == [
        {"time": 1001.0, "kind": "step", "message": "start shop-r2-s2"}]
    assert verbose["deployments"][1]["events"] == []


def documented(text: str) -> set[str]:
    return set(re.findall(r"`([a-z_0-9]+)`", text))


def keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


def test_every_key_printed_is_documented():
    plan = Plan("canary", ServiceState("shop", 1, OLD), Target(2, 1),
                (Start(NEW), Route((Share(1, OLD, 90.0), Share(2, NEW, 10.0))),
                 Pause("x", 1.0), Analyze(2, {}, 1), Shadow(2, spec_of(ShadowConfig())),
                 Hook("after_traffic")))
    printed = keys(plan_dict(plan, "v2", deployment(), 0))
    printed |= keys(history_dict([deployment()], 0, {3: [EventView(1.0, "k", "m", ("a",))]},
                                 {3: [("strategy.max_surge", 1, 2)]}))
    printed |= keys(hosts_dict([HostReport("a", None, 2048, {"id": "x", "where": "y",
                                                             "since": 1.0}, True)],
                               {"a": "10.0.0.1:22"}, {"a": ["v2"]}, ["v2", "v1"], "x"))
    from tests.unit.test_render import SHADOW, status
    printed |= keys(status_dict(status(shadow=SHADOW), 0))
    assert printed - documented(DOC) == set()


def test_hosts_dict_says_each_hosts_readiness():
    reports = [HostReport("web1", None, 2048), HostReport("web2", "unreachable: timed out")]
    assert hosts_dict(reports, {"web1": "10.0.0.1:22", "web2": None}) == {"schema": 1, "hosts": [
        {"host": "web1", "address": "10.0.0.1:22", "ready": True, "free_mb": 2048,
         "problem": None, "owner_read": False, "owner": None},
        {"host": "web2", "address": None, "ready": False, "free_mb": None,
         "problem": "unreachable: timed out", "owner_read": False, "owner": None}]}


def test_hosts_dict_names_the_services_owner_on_each_host_and_whether_it_is_this_one():
    them = {"id": "b1", "where": "root@ci:/srv/.zerodown", "since": 1.5}
    reports = [HostReport("web1", None, 2048, them, True), HostReport("web2", None, 2048,
                                                                       {**them, "id": "me"}, True),
               HostReport("web3", None, 2048, None, True)]
    hosts = hosts_dict(reports, {}, me="me")["hosts"]
    assert [(h["owner_read"], h["owner"]) for h in hosts] == [
        (True, {**them, "this_controller": False}),
        (True, {**them, "id": "me", "this_controller": True}), (True, None)]


def test_hosts_dict_with_app_release_lists_each_hosts_releases_and_what_it_lacks():
    reports = [HostReport("web1", None, 2048), HostReport("web2", "unreachable: timed out")]
    hosts = hosts_dict(reports, {"web1": "10.0.0.1:22"}, {"web1": ["v3", "v2"]}, ["v3", "v1"])
    assert [(h["releases"], h["missing_releases"]) for h in hosts["hosts"]] == [
        (["v3", "v2"], ["v1"]), (None, None)]   # web2 not asked: it is not ready
