// The running deployment's plan (the current step marked) and the history of deployments.

import { day, esc, label, phaseText, seconds } from "./format.js";
import { ended as isEnded } from "./phases.js";

const MARK = { done: "✓", current: "●", pending: "", failed: "✕", stopped: "■" };

// detail: GET deployments/current (deployment_dict + plan_steps), or null when none runs.
export function renderPlan(detail, listEl, metaEl) {
  if (!detail || !detail.plan_steps) {
    listEl.innerHTML = '<li class="plan-empty muted">No deployment yet. The plan of the next one shows here.</li>';
    metaEl.textContent = metaEl.title = "";
    return;
  }
  const done = detail.plan_steps.filter((s) => s.state === "done").length;
  const ended = isEnded(detail.phase) ? ` · ${phaseText(detail.phase)}` : "";
  // who asked, and why (cut short; whole in the title): text, never markup
  const why = detail.reason ? `: “${cut(detail.reason, 60)}”` : "";
  const by = detail.by ? ` · by ${detail.by}${why}` : "";
  metaEl.textContent = `deployment ${detail.id}${ended}${by} · ${detail.plan} plan · ${done} of ${detail.plan_steps.length} done`;
  metaEl.title = detail.reason || "";
  // A finished deployment's "current" step is where it stopped: failed there, or was ended there.
  const stoppedAs = detail.phase === "failed" ? "failed" : "stopped";
  listEl.innerHTML = detail.plan_steps.map((s) => {
    const shown = s.state === "current" && ended ? stoppedAs : s.state;
    return `<li class="step" data-state="${esc(shown)}"${shown === "current" ? ' aria-current="step"' : ""}>
    <span class="step-mark">${MARK[shown] ?? ""}</span><span class="step-n">${s.index + 1}</span><span class="step-text">${esc(s.text)}</span></li>`;
  }).join("");
  const current = listEl.querySelector('[data-state="current"]');
  // Keep the current step in view in a long plan, without moving the whole page.
  if (current) listEl.scrollTop = Math.max(0, current.offsetTop - listEl.offsetTop - listEl.clientHeight / 3);
}

// Who asked, and their reason below it (cut short here, whole in its title): user text, escaped.
function asked(d) {
  const why = d.reason ? `<span class="reason muted" title="${esc(d.reason)}">${esc(d.reason)}</span>` : "";
  return `${esc(d.by || "–")}${why}`;
}

const cut = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

// An ended deployment settled once its last old instances exited (none said: an older controller).
function settledText(d) {
  if (!isEnded(d.phase) || d.settled === undefined) return "";
  return d.settled ? '<span class="settle muted">settled</span>'
    : '<span class="settle muted" title="ended; its old instances are still exiting">settling…</span>';
}

export function renderHistory(deployments, tbody, selected) {
  tbody.innerHTML = (deployments || []).map((d) => {
    const took = isEnded(d.phase) ? seconds(d.duration_s) : "running";
    const change = d.from ? `${label(d.from)} → ${label(d.to)}` : label(d.to);
    return `<tr data-deployment="${d.id}"${d.id === selected ? ' aria-selected="true"' : ""}${d.error ? ` title="${esc(d.error)}"` : ""}>
      <td class="muted">${d.id}</td><td class="change">${d.kind === "rollback" ? "rollback " : ""}${esc(change)}</td>
      <td>${esc(d.strategy)}</td><td>${asked(d)}</td><td><span class="outcome" data-phase="${esc(d.phase)}">${esc(phaseText(d.phase))}</span>${settledText(d)}</td>
      <td class="muted">${day(d.created)}</td><td class="muted">${took}</td></tr>`;
  }).join("") || '<tr><td colspan="7" class="muted">No deployment yet.</td></tr>';
}
