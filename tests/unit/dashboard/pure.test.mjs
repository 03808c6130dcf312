// The dashboard's pure functions (no DOM): what the page says about a deployment.
// Run by tests/unit/test_dashboard_js.py with node's own test runner.
import assert from "node:assert/strict";
import { test } from "node:test";

const dir = process.env.DASHBOARD_DIR;
const { summarize, analysisState, askedParts } = await import(`${dir}/summary.js`);
const { niceMax } = await import(`${dir}/charts.js`);
const { rolesOf } = await import(`${dir}/palette.js`);
const { seconds, percent } = await import(`${dir}/format.js`);

const NOW = 1_800_000_000;
const r = (revision, version) => ({ revision, version });
const canary = {
  id: 4, kind: "deploy", phase: "paused", from: r(3, "v3"), to: r(4, "v4"), strategy: "canary",
  plan: "deploy", step: 3, steps: 7, step_text: "pause until resumed: canary r4 at 25%",
  error: null, created: NOW - 95, duration_s: 95,
};
const traffic = (weights) => Object.entries(weights).map(([rev, weight]) => ({ revision: rev, weight, backends: [] }));

test("a canary in progress reads at a glance", () => {
  const status = { stable: r(3, "v3"), deployment: canary, traffic: traffic({ r3: 75, r4: 25 }) };
  const events = [{ deployment: 4, kind: "step.finished", text: "step 2/7: analysis passed: success rate 100%" },
    { deployment: 4, kind: "step.started", text: "step 3/7: pause", time: NOW - 65, data: { index: 2 } }];
  const view = summarize(status, [canary], events, NOW);
  assert.equal(view.headline, "Canary r4 (v4) at 25%");
  assert.deepEqual(view.parts.map((p) => p.text),
    ["deployment 4", "step 3 of 7", "analysis passing", "started 1m35s ago"]);
  assert.equal(view.phase, "paused");
  assert.equal(view.tone, "warn");
  assert.equal(view.now, "paused: pause until resumed: canary r4 at 25% · for 1m05s");
  assert.equal(view.progress, 2 / 7);
});

test("an abort in progress says where traffic goes", () => {
  const d = { ...canary, phase: "aborting", plan: "abort" };
  const view = summarize({ stable: r(3, "v3"), deployment: d, traffic: traffic({ r3: 100 }) }, [d], [], NOW);
  assert.equal(view.headline, "Aborting r4 (v4): traffic back to r3 (v3)");
});

test("a promotion says where it goes", () => {
  const d = { ...canary, phase: "promoting", plan: "promote" };
  const view = summarize({ stable: r(3, "v3"), deployment: d, traffic: traffic({ r3: 50, r4: 50 }) }, [d], [], NOW);
  assert.equal(view.headline, "Promoting r4 (v4) to all traffic: 50% now");
  assert.equal(view.tone, "info");
});

test("no deployment: what serves, and how the last one ended", () => {
  const last = { ...canary, phase: "failed", error: "instance shop-r4-s3 did not become healthy within 30s", duration_s: 31 };
  const status = { stable: r(3, "v3"), deployment: null, traffic: traffic({ r3: 100 }) };
  const view = summarize(status, [last], [], NOW);
  assert.equal(view.headline, "r3 (v3) serves all traffic");
  assert.equal(view.tone, "bad");
  assert.equal(view.error, last.error);
  assert.equal(view.phase, "last failed");
  const ok = summarize(status, [{ ...last, phase: "succeeded", error: null }], [], NOW);
  assert.equal(ok.phase, "steady");
  assert.equal(ok.error, null);
  assert.equal(summarize({ stable: null, deployment: null, traffic: [] }, [], [], NOW).headline, "Nothing deployed yet");
});

test("who asked and why; once ended, settling until its old instances exited", () => {
  const asked = { ...canary, by: "alice", reason: "ship <b>it</b>" };
  const status = { stable: r(3, "v3"), deployment: asked, traffic: traffic({ r3: 75, r4: 25 }) };
  assert.deepEqual(summarize(status, [asked], [], NOW).parts.slice(0, 3).map((p) => p.text),
    ["deployment 4", "by alice", "“ship <b>it</b>”"]);  // text: renderSummary escapes it
  const last = { ...asked, phase: "rolled_back", reason: null, duration_s: 30, created: NOW - 40 };
  const idle = (settled) => summarize({ ...status, deployment: null, settled }, [last], [], NOW).parts;
  assert.deepEqual(idle(false).map((p) => p.text),
    ["settling…", "last: deployment 4 rolled back 10s ago after 30s", "by alice"]);
  assert.equal(idle(false)[0].tone, "info");
  assert.equal(idle(true)[0].text, "settled");
  assert.equal(idle(undefined)[0].text, "no deployment in progress");  // an older controller
  assert.deepEqual(askedParts({ by: null, reason: null }), []);
});

test("analysis: the newest word of this deployment wins", () => {
  const ev = (kind, text, deployment = 4) => ({ kind, text, deployment });
  assert.equal(analysisState([ev("step.started", "step 5/7: analyze r4 against r3")], 4).text, "analysis running");
  assert.equal(analysisState([ev("analysis.passed", "ok"), ev("step.failed", "step 5/7: analysis of r4 failed: p99")], 4).tone, "bad");
  assert.equal(analysisState([ev("analysis.inconclusive", "no data")], 4).text, "analysis inconclusive");
  assert.equal(analysisState([ev("analysis.failed", "bad", 3)], 4), null);
  assert.equal(analysisState([ev("step.started", "step 1/7: route r3 90%")], 4), null);
});

test("colours follow roles: stable, the revision being deployed, an ended one", () => {
  assert.deepEqual(rolesOf({ stable: r(3), deployment: canary }, canary), { 3: "stable", 4: "canary" });
  const aborted = { ...canary, phase: "aborted" };
  assert.deepEqual(rolesOf({ stable: r(3), deployment: null }, aborted), { 3: "stable", 4: "aborted" });
  const done = { ...canary, phase: "succeeded" };
  assert.deepEqual(rolesOf({ stable: r(4), deployment: null }, done), { 4: "stable" });
});

test("chart tops and numbers read easily", () => {
  assert.deepEqual([0, 0.3, 1, 7, 12, 180, 2600].map(niceMax), [1, 0.5, 1, 10, 20, 200, 5000]);
  assert.deepEqual([0.42, 12.3, 245, 3720].map(seconds), ["0.42s", "12s", "4m05s", "1h02m"]);
  assert.equal(percent(33.333333), "33.33%");
  assert.equal(percent(100), "100%");
});

const { shadowView } = await import(`${dir}/shadow.js`);

test("a failed shadow shows its counts and the latest differing pair first", () => {
  const view = shadowView({
    deployment: 5, revision: 2, state: "fail", compared: 2099, differing: 22, dropped: 40,
    timed_out: 0, failed: 0, examples: [
      { request: "GET /item?id=7 HTTP/1.1", what: "body", where: "$.price", stable: "259", shadow: "260" },
      { request: "HEAD /x HTTP/1.1", what: "status", where: "status", stable: "200", shadow: "404" }],
  });
  assert.equal(view.word, "failed");
  assert.equal(view.tone, "bad");
  assert.equal(view.title, "r2 · deployment 5");
  assert.equal(view.counts, "2099 copies compared, 22 differed (1.05%) · 40 dropped");
  assert.deepEqual(view.examples[0], { request: "HEAD /x HTTP/1.1", where: "status", stable: "200", shadow: "404", times: 1 });
  assert.equal(view.examples[1].where, "$.price");
  const again = { request: "GET / HTTP/1.1", where: "$.a", stable: "1", shadow: "2" };
  assert.deepEqual(shadowView({ state: "fail", examples: [again, again] }).examples,
    [{ ...again, times: 2 }]);
  assert.equal(shadowView(null), null);
});

const { placeOf } = await import(`${dir}/revisions.js`);

test("an instance on a fleet names its host before its address, as status does", () => {
  assert.equal(placeOf({ host: "app1", host_listed: true, address: "10.0.0.11:41231" }),
    "app1 · 10.0.0.11:41231");
  assert.equal(placeOf({ host: "app2", host_listed: false, address: "10.0.0.12:41232" }),
    "app2 (not listed) · 10.0.0.12:41232");
  assert.equal(placeOf({ host: null, host_listed: null, address: "127.0.0.1:41233" }),
    "127.0.0.1:41233");
  assert.equal(placeOf({ host: "app3", address: null }), "app3");
});

const { holdsForDecision } = await import(`${dir}/phases.js`);

test("an A/B test at its hold waits for a decision: no resume there", () => {
  // the controller says where (holds_for: engine/lifecycle.py, tests/unit/test_lifecycle.py)
  const hold = { ...canary, strategy: "ab-test", step_started: NOW - 30,
    step_text: "pause until promoted or aborted: A/B test r4 at 50%",
    holds_for: "the A/B test holds for a decision: ..." };
  assert.equal(holdsForDecision(hold), true);
  assert.equal(holdsForDecision({ ...hold, holds_for: null }), false); // paused before it
  assert.equal(holdsForDecision({ ...hold, phase: "aborted" }), false);
  assert.equal(holdsForDecision({ ...canary, step_started: NOW - 30 }), false); // a canary's pause
});
