// The dashboard: one state object fed by the controller's stream (or by polling
// while the stream is down), drawn by one render() per change.

import { ApiError, get, setToken, stream, takeTokenFromUrl } from "./api.js";
import { Confirm, updateButtons } from "./actions.js";
import { renderHistory, renderPlan } from "./deployments.js";
import { EventLog, renderEvents } from "./events.js";
import { attachHover } from "./hover.js";
import { Metrics, renderMetrics } from "./metrics.js";
import { rolesOf } from "./palette.js";
import { renderRevisions } from "./revisions.js";
import { isActive } from "./phases.js";
import { renderShadow, shadowView } from "./shadow.js";
import { renderSummary, summarize } from "./summary.js";
import { renderTraffic } from "./traffic.js";

const POLL_MS = 1000; // status while the stream is down: the bar stays within a second
const METRICS_MS = 2000;
const RETRY_MS = [1000, 2000, 5000, 10000]; // reopening the stream, then every 10 s

const $ = (id) => document.getElementById(id);
const state = {
  status: null, table: null, detail: null, history: [], log: new EventLog(),
  metrics: new Metrics(), link: "connecting", deploymentKey: null, tableVersion: null,
  selected: null, // {id, events}: a deployment picked in the history, shown instead of the live one
};
const now = () => Date.now() / 1000;

// --- drawing --------------------------------------------------------------------

// Redraw a part only when what it shows changed: a plan redrawn every second would
// lose its scroll position and any text the reader selected.
const shown = new Map();
function changed(part, ...inputs) {
  const key = JSON.stringify(inputs);
  if (shown.get(part) === key) return false;
  shown.set(part, key);
  return true;
}

let queued = false;
function render() {
  if (queued) return;
  queued = true;
  setTimeout(() => { queued = false; draw(); }, 0); // many messages in one turn: one draw
}

function draw() {
  const s = state.status;
  const t = now();
  const roles = rolesOf(s, state.history[0]);
  if (changed("roles", roles)) drawMetrics(); // the charts' colours follow the bar's
  if (s) {
    $("service-name").textContent = s.service;
    // only wildcard hosts on a shared proxy: the link needs this Host (a browser cannot send it)
    $("service-url").textContent = s.url_host ? `${s.url} with Host: ${s.url_host}` : s.url;
    $("service-url").href = s.url;
    $("proxy").textContent = s.proxy && s.proxy.running
      ? `proxy up${s.proxy.host ? ` on ${s.proxy.host}` : ""}${s.proxy.table_version != null ? ` · table v${s.proxy.table_version}` : ""}`
      : `proxy not running${s.proxy && s.proxy.host ? ` on ${s.proxy.host}` : ""}`;
    $("table-version").textContent = s.proxy && s.proxy.table_version != null ? `table v${s.proxy.table_version}` : "";
  }
  renderSummary(summarize(s, state.history, state.log.events, t), {
    phase: $("phase"), headline: $("headline"), subline: $("subline"), now: $("step-now"),
    progress: $("progress"), progressFill: $("progress-fill"), error: $("error"),
  });
  $("summary").dataset.active = String(isActive(s && s.deployment));
  // A background tab's title tells the state too: "Canary r4 (v4) at 25% · shop · zerodown".
  if (s) document.title = `${isActive(s.deployment) ? `${$("headline").textContent} · ` : ""}${s.service} · zerodown`;
  renderTraffic(s, state.table, $("traffic-bar"), $("traffic-legend"), $("traffic-rules"), roles);
  if (changed("shadow", s && s.shadow)) renderShadow(shadowView(s && s.shadow), $("shadow"), $("shadow-body"));
  if (changed("revisions", s && [s.revisions, s.instances, s.traffic], roles, Math.floor(t))) {
    renderRevisions(s, roles, $("revisions"), t);
  }
  if (changed("plan", state.detail)) renderPlan(state.detail, $("plan"), $("plan-meta"));
  const picked = state.selected;
  if (changed("events", picked && picked.id, state.log.cursor)) {
    renderEvents(picked ? picked.events : state.log.events, $("events"));
    $("events-meta").textContent = picked ? `deployment ${picked.id}` : "live";
  }
  if (changed("history", state.history, picked && picked.id)) {
    renderHistory(state.history, document.querySelector("#history tbody"), picked && picked.id);
  }
  $("show-live").hidden = !picked;
  $("history-hint").hidden = Boolean(picked) || state.history.length < 2;
  updateButtons(document.querySelectorAll("#actions button"), s, state.history);
}

function drawMetrics() {
  renderMetrics(state.metrics, rolesOf(state.status, state.history[0]), $("charts"), $("chart-legend"), now());
}

function setLink(link, text) {
  state.link = link;
  $("link").dataset.state = link;
  $("link-text").textContent = text || link;
}

let toastTimer = null;
function toast(text, tone = "ok") {
  const el = $("toast");
  el.textContent = text;
  el.dataset.tone = tone;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

// --- reading --------------------------------------------------------------------

// A deployment's identity and position: when it changes, its plan and the history are read again.
function keyOf(d) {
  return d ? `${d.id}/${d.phase}/${d.plan}/${d.step}` : "none";
}

async function onStatus(status) {
  state.status = status;
  render();
  const key = `${keyOf(status.deployment)}/${status.settled}`; // settled: the history's rows say it
  if (key !== state.deploymentKey) {
    state.deploymentKey = key;
    refreshDeployments();
  }
  const version = status.proxy && status.proxy.table_version;
  if (version !== state.tableVersion) {
    state.tableVersion = version;
    get("table").then((table) => { state.table = table; render(); }).catch(() => {});
  }
}

// The plan shown is the running deployment's, or else the last one's (how it ended).
async function refreshDeployments() {
  try {
    const history = (await get("deployments?limit=20")).deployments || [];
    // By id, not "current": the deployment may end between the status and this read.
    const d = state.status && state.status.deployment;
    const which = state.selected ? state.selected.id : isActive(d) ? d.id : history.length ? history[0].id : null;
    const detail = which && await get(`deployments/${which}`);
    state.history = history;
    state.detail = detail || null;
    render();
  } catch (e) {
    failed(e);
  }
}

// The event log starts with the whole story of the running (or last) deployment;
// after that the cursor picks up everything, whichever deployment it belongs to.
// A deployment picked in the history: its plan and its whole event log, until
// "back to live" (or a click on it again).
async function select(id) {
  if (!id || (state.selected && state.selected.id === id)) {
    state.selected = null;
  } else {
    try {
      state.selected = { id, events: (await get(`events?deployment=${id}&limit=1000`)).events || [] };
    } catch (e) {
      failed(e);
      return;
    }
  }
  await refreshDeployments();
}

async function catchUpEvents() {
  if (!state.log.cursor) {
    const d = (state.status && state.status.deployment) || state.history[0];
    if (d) state.log.add((await get(`events?deployment=${d.id}&limit=500`)).events || []);
  }
  for (;;) {
    const doc = await get(`events?after=${state.log.cursor}&limit=500`);
    state.log.add(doc.events || []);
    if ((doc.events || []).length < 500) break;
  }
  render();
}

async function readAll() {
  await onStatus(await get("status"));
  if (!state.history.length) await refreshDeployments();
  await catchUpEvents();
}

function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    setLink("offline", "token needed");
    if (!$("login").open) $("login").showModal();
    return;
  }
  console.warn("zerodown:", e);
}

// --- staying live ------------------------------------------------------------------

// The stream when it works; while it is down, polling every second, and the
// stream tried again with a growing delay.
async function live() {
  let attempt = 0;
  // Read everything once before the stream opens: it then starts after the last event seen.
  await readAll().catch(failed);
  for (;;) {
    let opened = false;
    try {
      await stream(state.log.cursor, () => {
        opened = true;
        attempt = 0;
        setLink("live");
      }, (event, data) => {
        if (event === "status") onStatus(data);
        else if (event === "event") { state.log.add([data]); render(); }
      });
    } catch (e) {
      failed(e);
    }
    if (state.link === "offline" && $("login").open) {
      await new Promise((resolve) => $("login").addEventListener("close", resolve, { once: true }));
      await readAll().catch(failed);
      continue;
    }
    const wait = RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)];
    setLink("polling", opened ? "reconnecting" : "polling");
    await pollFor(wait);
  }
}

async function pollFor(ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      await readAll();
      setLink("polling");
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) { failed(e); return; }
      setLink("offline", "controller unreachable");
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function metricsLoop() {
  for (;;) {
    try {
      state.metrics.merge(await get(state.metrics.query()), now());
      drawMetrics();
    } catch (e) {
      if (!(e instanceof ApiError)) drawMetrics(); // keep the axis moving while unreachable
    }
    await new Promise((r) => setTimeout(r, METRICS_MS));
  }
}

// --- start ------------------------------------------------------------------------

function start() {
  takeTokenFromUrl();
  const confirm = new Confirm($("confirm"), () => state.status, (text) => {
    toast(text);
    refreshDeployments();
  });
  for (const button of document.querySelectorAll("#actions button")) {
    button.addEventListener("click", () => confirm.open(button.dataset.action));
  }
  $("login-form").addEventListener("submit", () => {
    setToken($("login-token").value.trim());
    setLink("connecting");
  });
  attachHover($("charts"), () => state.metrics.drawn);
  document.querySelector("#history tbody").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-deployment]");
    if (row) select(Number(row.dataset.deployment));
  });
  $("show-live").addEventListener("click", () => select(null));
  setInterval(render, 1000); // ages and durations
  draw();
  drawMetrics();
  live();
  metricsLoop();
}

start();
