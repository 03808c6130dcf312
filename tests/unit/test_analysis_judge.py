"""The judge on a FakeClock and simulated traffic: verdicts, timing, events, policies, config."""

from __future__ import annotations

import re

from dataclasses import asdict

import pytest

from zerodown.analysis import judge_for
from zerodown.analysis.checks import ErrorRate, Latency, assess
from zerodown.analysis.evidence import Counts
from zerodown.analysis.judge import Judge, config_of
from zerodown.analysis.simulate import Behaviour, SimulatedSource
from zerodown.analysis.sources import MetricsError
from zerodown.config import parse_config
from zerodown.errors import ConfigError
from zerodown.fakes import FakeClock, FakeRouter
from zerodown.plan import Analyze
from zerodown.strategies.options import AnalysisConfig

# A latency histogram like the example app's behind the proxy: mostly 1.5-5 ms.
LATENCY = (0, 0, 0, 0, 0, 5, 30, 40, 15, 6, 2, 1, 0.5, 0.3) + (0,) * 23


class Recorder:
    def __init__(self):
        self.events: list[tuple[str, str, int | None]] = []

    def __call__(self, kind, text, deployment):
        self.events.append((kind, text, deployment))

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.events]


def world(canary: Behaviour, stable: Behaviour | None = Behaviour(90, 0.005, LATENCY),
          history: float = 300, seed: int = 1, limit: float = 3600):
    clock = FakeClock(limit=limit)
    revisions = {"r2": canary, **({"r1": stable} if stable else {})}
    source = SimulatedSource(clock, revisions, rps=500, seed=seed)
    clock.advance(history)  # the stable has served a while before the analysis
    events = Recorder()
    return clock, source, Judge(lambda cfg: source, clock, events), events


def step(against: int | None = 1, **spec) -> Analyze:
    return Analyze(2, asdict(AnalysisConfig(**spec)), against)


def elapsed(clock: FakeClock, history: float = 300) -> float:
    return clock.now() - clock.start - history


def test_a_five_point_regression_fails_within_seconds_with_its_evidence():
    clock, source, judge, events = world(Behaviour(10, 0.055, LATENCY), seed=2)
    verdict, why = judge(step(max_success_rate_drop=0.01, max_duration=120), None)
    assert verdict == "fail" and elapsed(clock) <= 20
    # in plain words; the statistics in an event of their own (history -v)
    assert re.fullmatch(r"r2 fails \d+\.\d% of requests vs stable 0\.\d% \(limit \+1 pt\): "
                        r"failed after \d+ requests \(\d+\.\ds\)", why), why
    evidence = events.events[-2]
    assert evidence[0] == "analysis.evidence" and "E(worse)=" in evidence[1]
    assert "success rate vs stable fail: canary" in evidence[1]
    assert events.kinds()[0] == "analysis.started" and events.kinds()[-1] == "analysis.failed"


def test_a_good_canary_passes_once_the_evidence_is_enough():
    clock, source, judge, events = world(Behaviour(10, 0.005, LATENCY), seed=3)
    verdict, why = judge(step(max_success_rate_drop=0.01, max_duration=300), None)
    assert verdict == "pass" and 10 < elapsed(clock) < 300
    assert "r2 fails" in why and "passed after" in why and "E(within)=" not in why
    assert events.kinds()[-1] == "analysis.passed" and "E(within)=" in events.events[-2][1]
    assert "analysis.measurement" in events.kinds()  # every interval, with the evidence


def test_latency_fails_a_slower_canary_against_the_stable_p99():
    clock, source, judge, events = world(Behaviour(10, 0.005, LATENCY, slowdown=2.0), seed=4)
    verdict, why = judge(step(max_latency_ratio=1.2, max_duration=300), None)
    assert verdict == "fail" and "r2 answers 99% of requests within " in why
    assert "(limit 1.2x stable): failed after" in why
    assert "latency p99 vs stable fail" in events.events[-2][1]


def test_absolute_thresholds_work_without_a_stable():
    clock, source, judge, _ = world(Behaviour(10, 0.0, LATENCY), stable=None)
    verdict, why = judge(step(None, success_rate=0.99, latency_p99=0.02, max_duration=300), None)
    assert verdict == "pass", why


def test_no_traffic_is_inconclusive_at_max_duration_never_a_pass():
    clock, source, judge, events = world(Behaviour(0, 0.0, LATENCY), seed=5)
    verdict, why = judge(step(max_success_rate_drop=0.01, max_duration=30), None)
    assert verdict == "inconclusive" and elapsed(clock) == pytest.approx(30, abs=1.01)
    assert "undecided after 30s: 0 requests, 10 needed" in why
    assert events.kinds()[-1] == "analysis.inconclusive"


def test_on_inconclusive_wait_keeps_watching_until_traffic_decides():
    clock, source, judge, _ = world(Behaviour(0, 0.0, LATENCY), seed=6)
    calls = []

    def check():  # traffic arrives after a minute, long past max_duration
        calls.append(clock.now())
        if elapsed(clock) >= 60 and source.revisions["r2"].weight == 0:
            source.set("r2", Behaviour(10, 0.10, LATENCY))
    verdict, _ = judge(step(max_success_rate_drop=0.01, max_duration=30, on_inconclusive="wait"),
                       None, check)
    assert verdict == "fail" and elapsed(clock) > 60 and len(calls) > 60


def test_check_runs_on_every_poll_and_its_exception_ends_the_analysis():
    clock, source, judge, _ = world(Behaviour(10, 0.005, LATENCY))

    class Aborted(Exception):
        pass
    polls = []

    def check():
        polls.append(clock.now())
        if len(polls) == 5:
            raise Aborted()
    with pytest.raises(Aborted):
        judge(step(max_success_rate_drop=0.01, max_duration=300), None, check)
    assert len(polls) == 5


def test_only_comparisons_and_no_stable_is_inconclusive_at_once():
    clock, source, judge, events = world(Behaviour(10, 0.005, LATENCY))
    verdict, why = judge(step(None, max_success_rate_drop=0.01), None)
    assert verdict == "inconclusive" and "there is none to compare with" in why
    assert elapsed(clock) == 0


def test_unreadable_metrics_are_inconclusive_with_the_error():
    clock = FakeClock(limit=600)

    class Broken:
        def counts(self, revision):
            raise MetricsError("cannot query Prometheus at http://127.0.0.1:1: refused")

        def query(self, revision, metric, window):
            return None
    events = Recorder()
    verdict, why = Judge(lambda cfg: Broken(), clock, events)(
        step(max_success_rate_drop=0.01, max_duration=10), None)
    assert verdict == "inconclusive" and "last metrics error: cannot query Prometheus" in why
    assert events.kinds().count("analysis.metrics_error") == 1  # said once, not every poll


def test_fixed_interval_method_fails_after_the_failure_limit():
    """Flagger's shape: a failed check per 60 s interval, 5 failed checks to roll back."""
    clock, source, judge, _ = world(Behaviour(10, 0.055, LATENCY))
    verdict, why = judge(step(method="fixed", interval=60, count=10, failure_limit=4,
                              max_success_rate_drop=0.01), None)
    assert verdict == "fail" and elapsed(clock) == pytest.approx(300, abs=1.01)
    assert "measurement 5 of 10 failed" in why and "5 failed" in why


def test_fixed_interval_method_passes_a_good_canary_and_pauses_without_data():
    clock, source, judge, _ = world(Behaviour(10, 0.005, LATENCY))
    verdict, why = judge(step(method="fixed", interval=10, count=3, max_success_rate_drop=0.01,
                              max_latency_ratio=1.5), None)
    assert verdict == "pass" and "0 failed, 0 without data" in why, why
    clock, source, judge, _ = world(Behaviour(0, 0.005, LATENCY))
    verdict, why = judge(step(method="fixed", interval=10, count=3, success_rate=0.99), None)
    assert verdict == "inconclusive" and "without enough data (0 requests, 10 needed)" in why


def test_a_query_is_measured_every_interval():
    clock = FakeClock(limit=600)
    values = iter([0.01, 0.2, 0.3, 0.01] + [0.01] * 50)

    class Prom:
        def counts(self, revision):
            return Counts(0, 0)

        def query(self, revision, metric, window):
            assert metric == "q{revision}" and window == 10
            return next(values)
    judge = Judge(lambda cfg: Prom(), clock)
    spec = dict(query="q{revision}", query_max=0.1, prometheus="http://x:9090", min_requests=0)
    verdict, why = judge(step(failure_limit=1, **spec), None)
    assert verdict == "fail" and "2 bad" in why
    verdict, why = judge(step(failure_limit=5, count=3, **spec), None)
    assert verdict == "pass" and "3 good" in why


def test_the_false_alarm_budget_is_shared_by_the_checks():
    checks = (ErrorRate(drop=0.01), Latency(seconds=0.5))
    one = assess(checks[:1], Counts(400, 22), Counts(3600, 18), 0.01)
    two = assess(checks, Counts(400, 22), Counts(3600, 18), 0.01)
    assert "decides at 100" in one.findings[0].evidence
    assert "decides at 200" in two.findings[0].evidence


def test_judge_for_reads_the_routers_stats():
    router = FakeRouter()
    clock = FakeClock(limit=600)
    judge = judge_for(parse_config(CONFIG), router, clock)
    verdict, why = judge(step(None, success_rate=0.99, max_duration=5), None)
    assert verdict == "inconclusive" and "0 requests" in why
    assert "router.stats" in router.faults.names  # the evidence came from the router


def test_config_of_ignores_keys_it_does_not_know():
    spec = {**asdict(AnalysisConfig(success_rate=0.9)), "from_the_future": 1}
    assert config_of(spec) == AnalysisConfig(success_rate=0.9)


CONFIG = """\
service: shop
listen: 127.0.0.1:8080
app: {command: "python3 app.py --port {port}"}
"""


def analysis_errors(section: str) -> list[str]:
    text = CONFIG + f"strategy: {{kind: canary, steps: [{{weight: 10}}, {{analysis: {section}}}]}}\n"
    with pytest.raises(ConfigError) as e:
        parse_config(text)
    return str(e.value).splitlines()


def test_analysis_config_parses_the_new_keys():
    text = CONFIG + ("strategy: {kind: canary, steps: [{weight: 10}, {analysis: {"
                     "max_success_rate_drop: 0.01, max_false_alarm: 0.001, max_duration: 2m, "
                     "on_inconclusive: wait, method: sequential, prometheus: 'http://127.0.0.1:9090',"
                     " query: 'sum(up)', query_max: 3}}]}\n")
    a = parse_config(text).strategy.steps[1].analysis
    assert (a.max_false_alarm, a.max_duration, a.on_inconclusive, a.query_max) == \
        (0.001, 120.0, "wait", 3.0)


@pytest.mark.parametrize("section, message", [
    ("{success_rate: 0.99, method: bayes}", 'method: must be one of'),
    ("{success_rate: 0.99, max_false_alarm: 0}", "max_false_alarm: must be a number from"),
    ("{success_rate: 0.99, on_inconclusive: pass}", "on_inconclusive: must be one of"),
    ("{success_rate: 0.99, prometheus: localhost:9090}", "prometheus: must be an http:// URL"),
    ("{query: 'sum(up)', query_max: 1}", "query needs prometheus: the URL of the Prometheus"),
    ("{query: 'sum(up)', prometheus: 'http://p:9090'}", "query needs query_max or query_min"),
    ("{success_rate: 0.99, query_min: 1}", "query_max and query_min bound a query"),
    ("{prometheus: 'http://p:9090', query: 'sum(up)', query_max: yes}",
     "query_max: must be a number, got true"),
])
def test_analysis_config_errors_name_the_key(section, message):
    errors = analysis_errors(section)
    assert any("strategy.steps[1].analysis" in e and message in e for e in errors), errors


@pytest.mark.parametrize("seed", range(8))
def test_identical_canaries_are_not_failed_when_latency_drifts_for_both(seed):
    """Issue 17: the stable's p99 was fixed from its whole (idle) history, so when load
    slowed both sides the canary was judged against the past and failed, 10 of 20 A/A runs."""
    clock, source, judge, _ = world(Behaviour(0, 0.005, LATENCY), seed=seed)
    for name, weight in (("r1", 90), ("r2", 10)):  # the canary arrives with more load: slower
        source.set(name, Behaviour(weight, 0.005, LATENCY, slowdown=1.6))

    def check():  # and half a minute in, slower again, for both
        if 30 <= elapsed(clock) < 31:
            for name, weight in (("r1", 90), ("r2", 10)):
                source.set(name, Behaviour(weight, 0.005, LATENCY, slowdown=2.5))
    verdict, why = judge(step(max_latency_ratio=1.2, max_duration=180), None, check)
    assert verdict != "fail", why


@pytest.mark.parametrize("canary, stable, verdict", [
    # (canary's histogram, stable's in the same window, verdict) over BOUNDS; LATENCY x k
    (tuple(300 * x for x in LATENCY), tuple(2700 * x for x in LATENCY), "pass"),
    (tuple(x for x in LATENCY), tuple(9 * x for x in LATENCY), "open"),  # too few to tell
    ((0,) * 14 + (1000,) + (0,) * 22, tuple(90 * x for x in LATENCY), "fail"),  # all at 20-30ms
    (tuple(10 * x for x in LATENCY), (0,) * 37, "open"),  # the stable served nothing
])
def test_latency_against_the_stable_judges_the_same_window(canary, stable, verdict):
    check = Latency(ratio=1.2)
    c, s = Counts(sum(canary), 0, canary), Counts(sum(stable), 0, stable)
    assert check.assess(c, s, 4.6).verdict == verdict


def test_the_stable_p99_bounds_hold_the_estimate_and_narrow_with_requests():
    from zerodown.analysis.checks import stable_p99_bounds
    few, many = (Counts(sum(h), 0, h) for h in (LATENCY, tuple(20 * x for x in LATENCY)))
    p99 = many.quantile(0.99)
    high, low = stable_p99_bounds(many, 5.3)
    assert low < p99 < high
    f_high, f_low = stable_p99_bounds(few, 5.3)
    assert f_low is None or f_low < low
    assert f_high is None or f_high > high


class Hanging:
    """A stable serving 450 req/s, and a canary that accepts 50 req/s and answers none."""

    def __init__(self, clock: FakeClock):
        self.clock, self.began = clock, clock.now()

    def counts(self, revision):
        from zerodown.latency import BOUNDS
        t = self.clock.now() - self.began
        if revision == "r1":
            n = 450 * t
            return Counts(n, 0.005 * n, tuple(n * x / 100 for x in LATENCY))
        ages = [0.0] * (len(BOUNDS) + 1)  # one request a 50th of a second, all still waiting
        for i in range(int(50 * t)):
            age = t - i / 50
            ages[next((j for j, b in enumerate(BOUNDS) if age <= b), len(BOUNDS))] += 1
        return Counts(0, 0, (0.0,) * (len(BOUNDS) + 1), BOUNDS, tuple(ages))

    def query(self, revision, metric, window):
        return None


@pytest.mark.parametrize("spec", [dict(max_success_rate_drop=0.01),
                                  dict(success_rate=0.99), dict(latency_p99=0.5)])
def test_a_canary_that_answers_nothing_fails_by_its_unanswered_requests(spec):
    """Issue 11: a hanging version counted no requests: 'inconclusive', users kept on it."""
    clock = FakeClock(limit=600)
    source = Hanging(clock)
    verdict, why = Judge(lambda cfg: source, clock)(
        step(max_duration=60, unanswered_after=2, **spec), None)
    assert verdict == "fail", why
    assert clock.now() - clock.start < 20, why


@pytest.mark.parametrize("ages, after, requests, failures", [
    (None, 10, 100, 1),  # the source cannot tell: nothing added
    ((0, 5) + (0,) * 35, 10, 100, 1),  # 5 waiting, none for long
    ((0,) * 35 + (3, 2), 10, 105, 6),  # 3 for 30-60 s, 2 beyond 60 s: all past 10 s
    ((0,) * 36 + (4,), 100, 104, 5),  # beyond the last bound counts as past any bound
])
def test_unanswered_requests_count_as_failed_once_they_waited_long_enough(
        ages, after, requests, failures):
    c = Counts(100, 1, (100,) + (0,) * 36).with_unanswered(ages, after)
    assert (c.requests, c.failures) == (requests, failures)
    assert c.latency[-1] == requests - 100  # and as slower than any bound


@pytest.mark.parametrize("seed", range(6))
def test_good_canaries_pass_within_the_default_chosen_from_the_traffic(seed):
    """Issue 17: max_duration defaulted to interval x count = 30 s and paused good canaries
    "undecided" (7 of 20 at 500 req/s); the default now comes from the measured rates."""
    clock, source, judge, events = world(Behaviour(10, 0.005, LATENCY), seed=seed)
    verdict, why = judge(step(max_success_rate_drop=0.01), None)
    assert verdict == "pass", why
    planned = [text for kind, text, _ in events.events if kind == "analysis.planned"]
    assert len(planned) == 1 and planned[0].startswith("at 50 req/s on r2 these checks need ~")
    assert "(max_duration, chosen from the traffic)" in planned[0]
    assert events.kinds().index("analysis.planned") < events.kinds().index("analysis.passed")


@pytest.mark.parametrize("rate, drop, least, most", [
    (50, 0.01, 10, 120),   # the benchmark's canary: tens of seconds
    (5, 0.01, 100, 3000),  # a tenth of the traffic: about ten times as long
    (50, 0.05, 1, 30),     # a looser tolerance: less evidence
])
def test_seconds_to_pass_grows_with_less_traffic_and_tighter_tolerance(rate, drop, least, most):
    from zerodown.analysis.checks import ErrorRate
    from zerodown.analysis.duration import seconds_to_pass
    like = Counts(10_000, 50, tuple(100 * x for x in LATENCY))
    needed = seconds_to_pass((ErrorRate(drop=drop),), rate, 9 * rate, like, 0.01)
    assert least <= needed <= most, needed


def test_a_tolerance_the_stable_itself_misses_never_passes_and_says_so():
    from zerodown.analysis.checks import ErrorRate
    from zerodown.analysis.duration import said, seconds_to_pass
    like = Counts(10_000, 300, None)  # the stable fails 3%; the check allows 1%
    assert seconds_to_pass((ErrorRate(limit=0.01),), 50, 450, like, 0.01, longest=3600) is None
    assert "would not pass" in said("r2", 50, None, 900, True)


def test_a_max_duration_too_short_for_the_traffic_is_said():
    clock, source, judge, events = world(Behaviour(10, 0.005, LATENCY), seed=1)
    judge(step(success_rate=0.99, max_duration=20), None)
    planned = [text for kind, text, _ in events.events if kind == "analysis.planned"]
    assert planned and "too short: raise max_duration or the traffic" in planned[0]


def test_requests_a_source_had_not_seen_at_the_start_are_evidence_not_baseline():
    """Issue 17: Prometheus had not scraped the canary when the analysis began; its first
    scrape became the baseline and the requests before it were lost."""
    from zerodown.analysis.evidence import Window
    w = Window().read(None).read(Counts(500, 30)).read(Counts(800, 40))
    assert (w.total.requests, w.total.failures) == (800, 40)
    seen = Window().read(Counts(500, 30)).read(Counts(800, 40))  # known from the start
    assert (seen.total.requests, seen.total.failures) == (300, 10)


class Scraped:
    """A stable and a canary seen through a scrape every `every` seconds, like Prometheus."""

    def __init__(self, clock: FakeClock, every: float):
        self.source = SimulatedSource(clock, {"r1": Behaviour(90, 0.005, LATENCY),
                                              "r2": Behaviour(10, 0.005, LATENCY)}, seed=2)
        self.clock, self.every, self.seen = clock, every, {}
        self.at = -1.0

    def counts(self, revision):
        if self.clock.now() - self.at >= self.every:
            self.at = self.clock.now()
            self.seen = {r: self.source.counts(r) for r in ("r1", "r2")}
        return self.seen.get(revision)

    def query(self, revision, metric, window):
        return None

    def resolution(self):
        return self.every


def test_a_scrape_interval_too_coarse_for_max_duration_is_said_before_judging():
    clock = FakeClock(limit=600)
    events = Recorder()
    source = Scraped(clock, 15)
    Judge(lambda cfg: source, clock, events)(step(max_success_rate_drop=0.01, max_duration=40),
                                             None)
    planned = [text for kind, text, _ in events.events if kind == "analysis.planned"]
    assert planned and "scraped every 15s" in planned[0] and "too coarse" in planned[0]
    assert "at 50 req/s on r2" in planned[0]  # the rates from two scrapes, not from one


def test_a_background_analysis_past_its_pass_says_it_goes_on_not_that_it_begins():
    """Its second round read as a new analysis starting after the pass (history -v)."""
    _, _, judge, events = world(Behaviour(90, 0.005, LATENCY))
    first = {**asdict(AnalysisConfig(max_success_rate_drop=0.01, max_duration=60)), "round": 1}
    assert judge(Analyze(2, first, 1), None)[0] == "pass"
    judge(Analyze(2, {**first, "round": 2, "max_false_alarm": 0.0025}, 1), None)
    started = [t for k, t, _ in events.events if k == "analysis.started"]
    assert started[0].startswith("analyzing r2 against r1 (sequential"), started
    assert started[1].startswith("analyzing r2 against r1 on after its pass, until the "
                                 "promotion (sequential"), started
