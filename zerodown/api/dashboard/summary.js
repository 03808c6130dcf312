// The line at the top that says what is going on, at a glance:
// "Canary r4 (v4) at 25%" · "step 3 of 7 · pause until resumed · analysis passing".

import { ago, esc, label, percent, phaseText, seconds } from "./format.js";
import { isActive } from "./phases.js";

// The colour of a phase badge: calm for progress, amber for waiting or going back, red for failure.
const TONE = {
  pending: "info", running: "info", promoting: "info", paused: "warn", aborting: "warn",
  rolling_back: "warn", succeeded: "ok", failed: "bad", rolled_back: "warn", aborted: "warn",
};

function weightOf(status, revision) {
  const row = (status.traffic || []).find((t) => t.revision === `r${revision}`);
  return row ? row.weight : 0;
}

function headline(status, d) {
  const to = label(d.to);
  const weight = percent(weightOf(status, d.to.revision));
  if (d.kind === "rollback") return `Rolling back to ${to}`;
  if (d.plan === "abort") return `Aborting ${to}: traffic back to ${label(d.from)}`;
  if (d.plan === "rollback") return `Rolling back ${to} to ${label(d.from)}`;
  if (d.phase === "promoting") return `Promoting ${to} to all traffic: ${weight} now`;
  if (d.strategy === "canary") return `Canary ${to} at ${weight}`;
  if (d.strategy === "ab-test") return `A/B test: ${to} at ${weight}`;
  if (d.strategy === "blue-green") return `Blue/green ${to}: ${weight} of traffic`;
  if (!d.from) return `First deploy of ${to}`;
  return `${d.strategy[0].toUpperCase()}${d.strategy.slice(1)} ${label(d.from)} → ${to}: ${weight} of traffic`;
}

// What an event says about analysis, if anything: the judge's own events
// (analysis.passed, ...) and the engine's analyze steps ("step 8/13: analysis passed: ...").
const ANALYSIS_KINDS = {
  passed: ["analysis passing", "ok"], failed: ["analysis failed", "bad"],
  inconclusive: ["analysis inconclusive", "warn"], error: ["analysis error", "bad"],
  metrics_error: ["analysis cannot read metrics", "bad"],
};

function analysisWord(e) {
  if (e.kind.startsWith("analysis.")) {
    return ANALYSIS_KINDS[e.kind.slice("analysis.".length)] || ["analysis running", "info"];
  }
  if (!e.kind.startsWith("step.")) return null;
  if (/: analysis passed/.test(e.text)) return ANALYSIS_KINDS.passed;
  if (/analysis of r\d+ is inconclusive/.test(e.text)) return ANALYSIS_KINDS.inconclusive;
  if (/analysis of r\d+ failed/.test(e.text)) return ANALYSIS_KINDS.failed;
  if (e.kind === "step.started" && /: analyze r\d+/.test(e.text)) return ["analysis running", "info"];
  return null;
}

// The newest word on analysis for this deployment, as a person reads it.
export function analysisState(events, deploymentId) {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    const word = e.deployment === deploymentId && analysisWord(e);
    if (word) return { text: word[0], tone: word[1], detail: e.text };
  }
  return null;
}

// How long the step in progress has taken so far (a pause that has waited 4 minutes
// reads differently from one that just began): " · for 1m05s", or "".
function stepAge(events, d, now) {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.deployment === d.id && e.kind === "step.started") {
      return e.data && e.data.index !== d.step - 1 ? "" : ` · for ${seconds(Math.max(0, now - e.time))}`;
    }
  }
  return "";
}

// Who asked for a deployment and why (its deploy or rollback action's words, as `history`
// shows them): user text, escaped where it is drawn. None from a controller that sends neither.
export function askedParts(d) {
  const parts = d && d.by ? [{ text: `by ${d.by}` }] : [];
  if (d && d.reason) parts.push({ text: `“${d.reason}”`, title: "the reason given" });
  return parts;
}

// Once a deployment's phase ended, its last old instances may still be exiting: the
// status's `settled` says when they did (none from an older controller: nothing said).
function settledPart(settled) {
  if (settled === false) return { text: "settling…", tone: "info", title: "ended; its old instances are still exiting" };
  return { text: settled ? "settled" : "no deployment in progress" };
}

// What the summary card shows: {phase, tone, headline, parts: [{text, tone}], progress, error}.
export function summarize(status, history, events, now) {
  if (!status) return { phase: "…", tone: "info", headline: "Loading…", parts: [] };
  const d = status.deployment;
  if (isActive(d)) {
    const step = Math.min(d.step, d.steps);
    const parts = [{ text: `deployment ${d.id}` }, ...askedParts(d), { text: `step ${step} of ${d.steps}` }];
    const analysis = analysisState(events, d.id);
    if (analysis) parts.push({ text: analysis.text, tone: analysis.tone, title: analysis.detail });
    parts.push({ text: `started ${ago(d.created, now)}` });
    return {
      phase: phaseText(d.phase), tone: TONE[d.phase] || "info", headline: headline(status, d), parts,
      progress: d.steps ? (d.step - 1) / d.steps : 0, error: d.error,
      now: d.step_text ? `${phaseText(d.phase)}: ${d.step_text}${stepAge(events, d, now)}` : null,
    };
  }
  if (!status.stable) {
    return { phase: "idle", tone: "info", headline: "Nothing deployed yet", parts: [{ text: "zerodown up starts the first version" }] };
  }
  const served = (status.traffic || []).filter((t) => t.weight > 0).map((t) => `${t.revision} ${percent(t.weight)}`);
  const last = history && history[0];
  const parts = [settledPart(status.settled)];
  let tone = "ok";
  let error = null;
  if (last) {
    const outcome = phaseText(last.phase);
    const lastTone = TONE[last.phase] || "info";
    parts.push({ text: `last: deployment ${last.id} ${outcome} ${ago(last.created + last.duration_s, now)} after ${seconds(last.duration_s)}`, tone: lastTone === "ok" ? null : lastTone }, ...askedParts(last));
    if (last.phase === "failed") tone = "bad";
    else if (lastTone === "warn") tone = "warn";
    error = last.error; // why it failed or was rolled back
  }
  return {
    phase: last && last.phase !== "succeeded" ? `last ${phaseText(last.phase)}` : "steady",
    tone, headline: `${label(status.stable)} serves ${served.length > 1 ? served.join(" · ") : "all traffic"}`,
    parts, progress: null, error,
  };
}

export function renderSummary(view, el) {
  el.phase.textContent = view.phase;
  el.phase.dataset.tone = view.tone;
  el.headline.textContent = view.headline;
  el.subline.innerHTML = view.parts.map((p) =>
    `<span class="part"${p.tone ? ` data-tone="${p.tone}"` : ""}${p.title ? ` title="${esc(p.title)}"` : ""}>${esc(p.text)}</span>`).join("");
  el.now.hidden = !view.now;
  el.now.textContent = view.now || "";
  el.progress.hidden = view.progress === null || view.progress === undefined;
  if (!el.progress.hidden) el.progressFill.style.width = `${Math.round(view.progress * 100)}%`;
  el.error.hidden = !view.error;
  el.error.textContent = view.error || "";
}
