"""What the CLI prints, from views: tables of cases, no processes."""

from __future__ import annotations

import json

import pytest

from zerodown import render, views
from zerodown.views import (DeploymentView, EventView, InstanceView, ProxyView, RevisionLabel,
                            StatusView, TrafficView)

R1, R2 = RevisionLabel(1, "v1"), RevisionLabel(2, "v2")


def deployment(**kw) -> DeploymentView:
    base = dict(id=3, kind="deploy", phase="running", source=R1, target=R2, strategy="rolling",
                step=2, steps=6, step_text="wait until healthy: shop-r2-s2", plan_kind="deploy",
                created=1000.0, updated=1004.25)
    return DeploymentView(**{**base, **kw})


def instance(rev=R1, slot=0, state="routed", **kw) -> InstanceView:
    return InstanceView(f"shop-r{rev.number}-s{slot}", rev, slot, state, **kw)


@pytest.mark.parametrize("value, text", [
    (0.0, "0.00s"), (0.456, "0.46s"), (1.25, "1.2s"), (9.96, "10.0s"), (12.4, "12s"),
    (59.4, "59s"), (61, "1m01s"), (3599, "59m59s"), (3720, "1h02m")])
def test_seconds(value, text):
    assert render.seconds(value) == text


@pytest.mark.parametrize("label, text", [
    (RevisionLabel(2, "v2"), "r2 (v2)"), (RevisionLabel(7), "r7"), (RevisionLabel(1, ""), "r1")])
def test_revision_label(label, text):
    assert str(label) == text


def test_table_aligns_columns_and_shows_none_as_dash():
    assert render.table(("A", "LONGER"), [("xx", None), ("y", 3)]).splitlines() == [
        "A   LONGER", "xx  -", "y   3"]


@pytest.mark.parametrize("kw, text", [
    ({}, "deployment 3 (deploy r1 (v1) → r2 (v2), rolling): running, "
         "step 2/6: wait until healthy: shop-r2-s2"),
    ({"source": None, "target": R1}, "deployment 3 (deploy r1 (v1), rolling): running, "
                                     "step 2/6: wait until healthy: shop-r2-s2"),
    ({"phase": "rolling_back", "plan_kind": "rollback"},
     "deployment 3 (deploy r1 (v1) → r2 (v2), rolling): rolling back (rollback plan), "
     "step 2/6: wait until healthy: shop-r2-s2"),
    ({"phase": "succeeded", "step": 7, "step_text": None},
     "deployment 3 (deploy r1 (v1) → r2 (v2), rolling): succeeded in 4.2s"),
    ({"phase": "running", "step": 7, "step_text": None},
     "deployment 3 (deploy r1 (v1) → r2 (v2), rolling): running, 6/6 steps done"),
    ({"kind": "rollback", "source": R2, "target": R1, "strategy": "in-place",
      "phase": "rolled_back"},
     "deployment 3 (rollback r2 (v2) → r1 (v1), in-place): rolled back in 4.2s"),
    ({"strategy": "ab-test", "step_text": "pause until promoted or aborted: A/B test"},
     "deployment 3 (deploy r1 (v1) → r2 (v2), A/B test): running, "
     "step 2/6: pause until promoted or aborted: A/B test"),
    ({"step_started": 1990.0, "step_limit": 30.0},
     "deployment 3 (deploy r1 (v1) → r2 (v2), rolling): running, "
     "step 2/6: wait until healthy: shop-r2-s2 (10s of 30s)"),
    ({"step_started": 1998.5},
     "deployment 3 (deploy r1 (v1) → r2 (v2), rolling): running, "
     "step 2/6: wait until healthy: shop-r2-s2 (1.5s)"),
])
def test_deployment_line(kw, text):
    assert render.deployment_line(deployment(**kw), now=2000.0) == text


def test_an_active_deployment_lasts_until_now_a_finished_one_until_its_end():
    assert deployment().duration(now=1010.0) == 10.0
    assert deployment(phase="aborted").duration(now=1010.0) == 4.25


@pytest.mark.parametrize("kw, expect", [
    ({"phase": "succeeded"}, "succeeded in 4.2s; r2 (v2) serves"),
    ({"phase": "rolled_back", "error": "instance shop-r2-s2 did not become healthy"},
     "rolled back in 4.2s\n  error: instance shop-r2-s2 did not become healthy"),
    ({"phase": "paused", "error": "boom"}, "paused, step 2/6: wait until healthy: "
                                           "shop-r2-s2\n  error: boom"),
    ({"phase": "paused"}, "paused, step 2/6: wait until healthy: shop-r2-s2"),
])
def test_result_line_says_what_serves_or_why_not(kw, expect):
    assert render.result_line(deployment(**kw), now=2000.0).endswith(expect)


@pytest.mark.parametrize("kw, note", [
    ({"controller_pid": 42}, "run by controller pid 42"),
    ({}, "no controller is running it yet: the controller (re)starts with the next zerodown "
         "command and resumes it (`zerodown controller`)"),
    ({"phase": "succeeded", "controller_pid": 42}, ""),
])
def test_controller_note(kw, note):
    assert render.controller_note(deployment(**kw)) == note


def test_event_line_is_relative_to_the_deployment_start():
    e = EventView(1001.5, "step.started", "step 2/6: wait until healthy: shop-r2-s2")
    assert render.event_line(e, since=1000.0) == "   +1.5s  step 2/6: wait until healthy: shop-r2-s2"
    assert render.event_line(e, since=1002.0).startswith("  +0.00s")  # clocks apart: never negative


@pytest.mark.parametrize("instances, text", [
    ([], "no instances"),
    ([instance(R1, 0), instance(R1, 1)], "r1 (v1): 2 routed"),
    ([instance(R2, 2, "starting"), instance(R1, 0), instance(R2, 1, "routed"),
      instance(R1, 1, "draining")],
     "r1 (v1): 1 routed, 1 draining · r2 (v2): 1 starting, 1 routed"),
])
def test_instance_counts_by_revision_then_state(instances, text):
    assert render.instance_counts(instances) == text


@pytest.mark.parametrize("traffic, text", [
    ([], "nothing routed"),
    ([TrafficView("r1", "v1", 100.0, ("a",))], "r1 100%"),
    ([TrafficView("r1", "v1", 66.666666, ("a", "b")), TrafficView("r2", "v2", 33.333333, ("c",))],
     "r1 66.67% · r2 33.33%"),
    ([TrafficView("r1", "v1", 0.0, ())], "nothing routed"),  # served before, gone now
])
def test_traffic_split(traffic, text):
    assert render.traffic_split(traffic) == text


def test_progress_summary():
    assert render.progress_summary([instance(R1, 0)], [TrafficView("r1", "v1", 100.0, ("x",))]) \
        == "instances r1 (v1): 1 routed | traffic r1 100%"


def status(**kw) -> StatusView:
    base = dict(service="shop", listen="127.0.0.1:8080", stable=R1,
                proxy=ProxyView(True, 77, 5), deployment=deployment(controller_pid=99),
                instances=(instance(R1, 0, address="127.0.0.1:4001", pid=11, alive=True,
                                    healthy=True, health="HTTP 200"),
                           instance(R2, 2, "starting", address="127.0.0.1:4002", pid=12,
                                    alive=True, healthy=False, health="connection refused"),
                           instance(R2, 3, "failed", address="127.0.0.1:4003", pid=13,
                                    alive=False)),
                traffic=(TrafficView("r1", "v1", 90.0, ("shop-r1-s0",), 120, 1, 0, 40.0, 1.25, 9.5),
                         TrafficView("r2", "v2", 10.0, ("shop-r2-s2",), 12, 3, 1, 4.5, 2.0,
                                     30.0)))
    return StatusView(**{**base, **kw})


def test_status_text_names_everything_an_operator_asks_first():
    text = render.status_text(status(), now=1010.0)
    lines = text.splitlines()
    assert lines[0] == "service shop at http://127.0.0.1:8080  (proxy pid 77, table v5)"
    assert lines[1] == "stable: r1 (v1)"
    assert lines[2].startswith("deployment 3 (deploy r1 (v1) → r2 (v2), rolling): running")
    assert lines[3] == "  run by controller pid 99"
    assert "shop-r1-s0  r1 (v1)   routed    healthy" in text
    assert "unhealthy: connection refused" in text
    assert "shop-r2-s3  r2 (v2)   failed    not running" in text
    head = lines.index(next(l for l in lines if l.startswith("TRAFFIC")))
    assert lines[head].split() == ["TRAFFIC", "VERSION", "WEIGHT", "BACKENDS", "REQUESTS",
                                   "REQ/S", "ERRORS", "ERROR", "%", "P50", "MS", "P99", "MS",
                                   "IN", "FLIGHT"]
    # Each variant side by side, as an A/B test or a canary is judged: rate, errors, latency.
    assert lines[head + 1].split() == ["r1", "v1", "90%", "1", "120", "40.0", "1", "0.83",
                                       "1.2", "9.5", "0"]
    assert lines[head + 2].split() == ["r2", "v2", "10%", "1", "12", "4.5", "3", "25.00",
                                       "2.0", "30.0", "1"]


@pytest.mark.parametrize("kw, expect", [
    ({"deployment": None}, "no deployment in progress"),
    ({"instances": ()}, "no instances running"),
    ({"proxy": ProxyView(False), "traffic": ()}, "traffic: unknown (the proxy is not running"),
    ({"traffic": ()}, "traffic: nothing routed"),
    ({"stable": None}, "stable: none yet"),
    ({"deployment": deployment(error="boom", phase="paused")}, "  error: boom"),
])
def test_status_text_when_parts_are_missing(kw, expect):
    assert expect in render.status_text(status(**kw), now=1010.0)


def test_status_says_where_the_load_balancer_runs_when_on_a_fleet_host():
    assert "(proxy pid 77 on lb1, table v5)" in render.status_text(
        status(proxy=ProxyView(True, 77, 5, "lb1")), now=1010.0)
    assert "(proxy not running on lb1)" in render.status_text(
        status(proxy=ProxyView(False, host="lb1"), traffic=()), now=1010.0)
    assert " on " not in render.proxy_text(ProxyView(True, 77, 5))
    silent = render.status_text(status(proxy=ProxyView(False, host="lb1", unreachable="host "
                                                       "lb1: no SSH connection"), traffic=(),
                                       left_by_down=("lb1",)), now=1010.0)
    assert "(proxy on lb1: unknown, its host does not answer)" in silent
    assert "traffic: unknown (the proxy's host lb1 does not answer)" in silent
    assert "left by `zerodown down` on lb1, silent when it ran: its load balancer on lb1 " \
           "was not stopped; `zerodown down` again once lb1 answers" in silent


def test_status_text_names_each_instances_host_on_a_fleet_only():
    import dataclasses
    local = render.status_text(status(), now=1010.0)
    assert "HOST" not in local
    fleet = status(instances=tuple(dataclasses.replace(i, host=f"app{n}")
                                   for n, i in enumerate(status().instances, start=1)))
    text = render.status_text(fleet, now=1010.0)
    row = next(line for line in text.splitlines() if line.startswith("shop-r2-s3"))
    assert "HOST" in text and row.split()[-3:] == ["app3", "127.0.0.1:4003", "13"]
    assert views.status_from_dict(views.status_dict(fleet, 1010.0), 1010.0) \
        .instances[2].host == "app3"   # through the API's JSON too


def test_status_of_a_service_never_deployed():
    text = render.status_text(status(deployed=False, proxy=ProxyView(False)), now=0)
    assert text.splitlines() == ["service shop at http://127.0.0.1:8080  (proxy not running)",
                                 "nothing deployed yet: `zerodown up` starts the first version"]


def test_status_says_https_when_the_service_has_tls():
    view = status(scheme="https")
    assert render.status_text(view, now=0).startswith("service shop at https://127.0.0.1:8080")
    assert views.status_dict(view, now=0)["url"] == "https://127.0.0.1:8080"


def test_status_dict_is_plain_json_with_numbers_for_revisions():
    data = views.status_dict(status(), now=1010.0)
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {"service", "listen", "url", "url_host", "deployed", "stable", "proxy",
                         "deployment", "instances", "traffic", "shadow", "left_by_down"}
    assert data["shadow"] is None
    assert data["stable"] == {"revision": 1, "version": "v1"}
    assert data["proxy"] == {"running": True, "pid": 77, "table_version": 5, "host": None,
                             "unreachable": None}
    d = data["deployment"]
    assert (d["id"], d["phase"]) == (3, "running")
    assert (d["from"], d["to"]) == ({"revision": 1, "version": "v1"}, {"revision": 2, "version": "v2"})
    assert (d["step"], d["steps"], d["controller_pid"], d["duration_s"]) == (2, 6, 99, 10.0)
    assert data["instances"][0] == {"name": "shop-r1-s0", "revision": 1, "version": "v1",
                                    "slot": 0, "state": "routed", "address": "127.0.0.1:4001",
                                    "pid": 11, "alive": True, "healthy": True,
                                    "health": "HTTP 200", "host": None, "host_listed": None}
    assert data["traffic"][0] == {"revision": "r1", "version": "v1", "weight": 90.0,
                                  "backends": ["shop-r1-s0"], "requests": 120, "errors": 1,
                                  "in_flight": 0, "rate": 40.0, "p50_ms": 1.25, "p99_ms": 9.5}


SHADOW = views.ShadowView(4, 2, "fail", 2099, 22, 40, 0, 1, (
    {"request": "GET /item?id=7 HTTP/1.1", "what": "body", "where": "$.price", "stable": "259",
     "shadow": "260"},
    {"request": "HEAD /x HTTP/1.1", "what": "status", "where": "status", "stable": "200",
     "shadow": "404"}))


def test_status_shows_the_shadow_its_counts_and_its_differing_pairs():
    text = render.status_text(status(shadow=SHADOW), now=1010.0)
    assert ("  shadow of r2 (deployment 4): failed; 2,099 copies compared, 22 differed (1.05%); "
            "40 dropped, 1 failed") in text
    assert "    GET /item?id=7 HTTP/1.1: $.price: stable 259 · shadow 260" in text
    assert "    HEAD /x HTTP/1.1: status: stable 200 · shadow 404" in text
    data = views.status_dict(status(shadow=SHADOW), now=1010.0)["shadow"]
    assert (data["deployment"], data["revision"], data["state"]) == (4, 2, "fail")
    assert (data["compared"], data["differing"]) == (2099, 22)
    assert data["examples"][0]["where"] == "$.price"


def test_status_from_dict_renders_what_the_controller_sent_as_the_view_itself_renders():
    """`zerodown status` gets JSON from the controller: the text must be the same."""
    for view in (status(), status(deployed=False, proxy=ProxyView(False)), status(scheme="https"),
                 status(shadow=SHADOW), status(proxy=ProxyView(True, 77, 5, "lb1"))):
        data = json.loads(json.dumps(views.status_dict(view, now=1010.0)))
        assert render.status_text(views.status_from_dict(data, 1010.0), now=1010.0) == \
            render.status_text(view, now=1010.0)


def test_history_lists_newest_first_with_errors_and_events_when_verbose():
    ds = [deployment(id=2, phase="rolled_back", error="unhealthy"),
          deployment(id=1, source=None, target=R1, phase="succeeded")]
    text = render.history_text(ds, now=2000.0)
    lines = text.splitlines()
    assert lines[0].split() == ["ID", "KIND", "CHANGE", "STRATEGY", "OUTCOME", "STARTED",
                                "DURATION", "BY"]
    assert lines[1].startswith("2   deploy  r1 (v1) → r2 (v2)  rolling   rolled back")
    assert lines[1].endswith("4.2s      -")  # nobody recorded: no name
    assert lines[2] == "    error: unhealthy"
    assert lines[3].startswith("1   deploy  r1 (v1)") and "succeeded" in lines[3]
    events = {2: [EventView(1000.5, "phase", "deployment 2 running")]}
    verbose = render.history_text(ds, 2000.0, events)
    assert "      +0.50s  deployment 2 running" in verbose.splitlines()


def test_history_of_nothing():
    assert render.history_text([], now=0) == "no deployments yet"


def test_plan_text_says_which_revision_and_that_nothing_changed():
    desc = "shop: r1 → r2, 2 instances, rolling, 2 steps\n1. start shop-r2-s2\n2. stop x"
    assert render.plan_text(desc, "v2", 2, None).splitlines() == [
        "shop: r1 → r2, 2 instances, rolling, 2 steps (deploying v2 as r2)",
        "1. start shop-r2-s2", "2. stop x", "nothing was changed (plan only)"]
    busy = render.plan_text(desc, "v2", 2, deployment(id=9, phase="paused"))
    assert "note: deployment 9 is paused" in busy


def test_status_hides_a_revision_at_0_percent_that_no_longer_runs():
    gone = TrafficView("r0", "v0", 0.0, (), 500, 2, 0)
    kept = TrafficView("r2", "v2", 0.0, (), 12, 0, 0)  # r2's instances still run
    draining = TrafficView("r7", None, 0.0, (), 3, 0, 1)  # a request still in flight
    s = status(traffic=(*status().traffic, gone, kept, draining))
    assert [t.revision for t in render.serving(s)] == ["r1", "r2", "r2", "r7"]
    text = render.status_text(s, now=1010.0)
    assert "\nr0 " not in text and "\nr7 " in text
    assert views.status_dict(s, 1010.0)["traffic"][2]["revision"] == "r0"  # JSON: all of it


BLUE_KEPT = "pause 30s: blue kept 30s for an instant rollback"


@pytest.mark.parametrize("kw, note", [
    ({"strategy": "ab-test"}, "A/B test: r2 (v2) gets 10% of users (each user stays on their "
                              "side); `zerodown promote` makes it everyone's, `zerodown abort` "
                              "keeps r1 (v1)"),
    ({"strategy": "blue-green", "step_text": BLUE_KEPT, "step_started": 1000.0,
      "step_limit": 30.0},
     "blue/green: r2 (v2) (green) serves all traffic; r1 (v1) (blue) is kept running for an "
     "instant rollback, stopped in 20s (`zerodown rollback` goes back now)"),
    ({"strategy": "blue-green", "step_text": BLUE_KEPT},
     "blue/green: r2 (v2) (green) serves all traffic; r1 (v1) (blue) is kept running for an "
     "instant rollback, stopped after the delay (`zerodown rollback` goes back now)"),
    ({"strategy": "blue-green", "step_text": "wait until healthy: shop-r2-s2"}, None),
    ({"strategy": "ab-test", "phase": "aborted"}, None),
    ({}, None),
])
def test_status_says_what_the_strategy_means_now(kw, note):
    s = status(deployment=deployment(**kw))
    assert render.strategy_notes(s, now=1010.0) == ([note] if note else [])
    if note:
        assert f"\n  {note}\n" in render.status_text(s, now=1010.0)


def test_a_step_clock_survives_the_round_trip_through_json():
    d = deployment(step_started=1001.0, step_limit=10.0)
    back = views.deployment_from_dict(views.deployment_dict(d, 1005.0), 1005.0)
    assert (back.step_started, back.step_limit, back.step_left(1005.0)) == (1001.0, 10.0, 6.0)


def test_history_says_who_asked_why_and_what_changed_in_the_config():
    ds = [deployment(id=2, phase="succeeded", by="ci-token", reason="ship the greeting",
                     strategy="ab-test")]
    text = render.history_text(ds, 2000.0, config={2: ["strategy.split: 50 → 20"]})
    lines = text.splitlines()
    assert lines[1].endswith("4.2s      ci-token") and "A/B test" in lines[1]
    assert lines[2:] == ["    why: ship the greeting", "    config: strategy.split: 50 → 20"]


def test_a_long_health_reason_is_said_under_the_table_not_in_its_column():
    """On a fleet, `unhealthy: unreachable: host zdf2 (zdf2): cannot connect: Connect call
    failed ('10.231.77.12', 22)` in the HEALTH column pushed HOST, ADDRESS and PID 100
    columns to the right."""
    why = ("unreachable: host zdf2: cannot connect: connection refused by 10.231.77.12:22: no "
           "SSH server listens there")
    text = render.status_text(status(instances=(
        instance(R1, 0, address="10.231.77.11:4001", pid=11, alive=True, healthy=True,
                 host="zdf1"),
        instance(R1, 1, address="10.231.77.12:4002", pid=12, alive=True, healthy=False,
                 health=why, host="zdf2"))), now=1010.0)
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("shop-r1-s1 "))
    assert "unknown (below)" in row and why not in row and len(row) < 100, row
    # unknown, not unhealthy: its host did not answer, the instance may serve well
    assert f"  shop-r1-s1 unknown: {why}" in lines, text
    assert "unhealthy: connection refused" in render.status_text(status(), now=1010.0)
    sick = render.status_text(status(instances=(instance(
        R1, 0, address="10.231.77.11:4001", pid=11, alive=True, healthy=False, host="zdf1",
        health="HTTP 503 from 10.231.77.11:4001/healthz (the database is not there yet)"),)),
        now=1010.0)
    assert "unhealthy (below)" in sick and "unknown" not in sick, sick
