// Per revision: version, age, weight, its numbers now, and each instance with its health.

import { ago, esc, ms, num, percent } from "./format.js";
import { colorOf } from "./palette.js";

function health(i) {
  if (i.alive === false) return ["bad", i.health || "not running"];
  if (i.state === "failed") return ["bad", i.health || "failed"];
  if (i.healthy === true) return ["ok", i.health || "healthy"];
  if (i.healthy === false) return ["bad", i.health || "unhealthy"];
  return ["idle", "not probed"];
}

// Where an instance runs: on a fleet its host (as `zerodown status`'s HOST column names it,
// "(not listed)" once runtime.hosts dropped it) before its address; locally the address.
export function placeOf(i) {
  if (!i.host) return i.address || "";
  const host = i.host_listed === false ? `${i.host} (not listed)` : i.host;
  return i.address ? `${host} · ${i.address}` : host;
}

// Revisions in the status document, plus any that only instances or traffic name
// (an older controller's status may lack "revisions").
function revisionList(status) {
  const byNumber = new Map();
  for (const r of status.revisions || []) byNumber.set(r.revision, { ...r });
  for (const i of status.instances || []) {
    if (!byNumber.has(i.revision)) byNumber.set(i.revision, { revision: i.revision, version: i.version });
  }
  for (const t of status.traffic || []) {
    const n = Number(t.revision.slice(1));
    if (!byNumber.has(n)) byNumber.set(n, { revision: n, version: t.version });
  }
  return [...byNumber.values()].sort((a, b) => b.revision - a.revision);
}

export function renderRevisions(status, roles, el, now) {
  if (!status) return;
  // Revisions that serve, run, or take part in a deployment; not the proxy's old counters.
  const revisions = revisionList(status).filter((r) => roles[r.revision]
    || (status.instances || []).some((i) => i.revision === r.revision)
    || (status.traffic || []).some((t) => t.revision === `r${r.revision}` && (t.weight || t.backends.length)));
  el.innerHTML = revisions.map((r) => {
    const traffic = (status.traffic || []).find((t) => t.revision === `r${r.revision}`) || {};
    const instances = (status.instances || []).filter((i) => i.revision === r.revision);
    const role = roles[r.revision];
    const rows = instances.map((i) => {
      const [tone, text] = health(i);
      return `<li class="instance" data-instance="${esc(i.name)}">
        <span class="health-dot" data-tone="${tone}" title="${esc(text)}"></span>
        <span class="mono">${esc(i.name)}</span>
        <span class="state" data-state="${esc(i.state)}">${esc(i.state)}</span>
        <span class="muted small mono">${esc(placeOf(i))}</span>
      </li>`;
    }).join("");
    const errors = traffic.requests ? (100 * (traffic.errors || 0)) / traffic.requests : null;
    return `<article class="revision" data-revision="r${r.revision}">
      <header>
        <span class="swatch" style="background:${colorOf(r.revision, roles)}"></span>
        <b>r${r.revision}</b> <span>${esc(r.version || "")}</span>
        ${role ? `<span class="role" data-role="${role}">${role}</span>` : ""}
        <span class="spacer"></span>
        <span class="muted small">${r.created ? `created ${ago(r.created, now)}` : ""}</span>
      </header>
      <dl class="stats">
        <div><dt>weight</dt><dd>${percent(traffic.weight || 0)}</dd></div>
        <div><dt>req/s</dt><dd>${num(traffic.rate)}</dd></div>
        <div><dt>errors</dt><dd>${errors === null ? "–" : `${errors.toFixed(2)}%`}</dd></div>
        <div><dt>p50 / p99</dt><dd>${ms(traffic.p50_ms)} / ${ms(traffic.p99_ms)}</dd></div>
      </dl>
      <ul class="instances">${rows || '<li class="muted small">no instances</li>'}</ul>
    </article>`;
  }).join("") || '<p class="muted">No revision yet.</p>';
}
