// The routing table as one horizontal bar, a segment per revision. Segments are kept
// and only their width changes, so the CSS transition shows the weight moving.

import { esc, num, percent } from "./format.js";
import { colorOf } from "./palette.js";

export function renderTraffic(status, table, bar, legend, rules, roles) {
  if (!status) return; // not read yet: say nothing rather than "nothing routed"
  const traffic = status.traffic || [];
  const seen = new Set();
  for (const t of traffic) {
    seen.add(t.revision);
    let seg = bar.querySelector(`[data-revision="${t.revision}"]`);
    if (!seg) {
      seg = document.createElement("div");
      seg.className = "seg";
      seg.dataset.revision = t.revision;
      seg.style.width = "0%";
      seg.innerHTML = '<span class="seg-label"></span>';
      bar.appendChild(seg);
      seg.getBoundingClientRect(); // lay out at 0% first, so a new segment grows in
    }
    const number = Number(t.revision.slice(1));
    seg.style.background = colorOf(number, roles);
    seg.dataset.role = roles[number] || "other";
    seg.style.width = `${t.weight}%`;
    seg.dataset.weight = String(t.weight);
    seg.title = `${t.revision}${t.version ? ` (${t.version})` : ""}: ${percent(t.weight)}`;
    seg.querySelector(".seg-label").textContent = `${t.revision}${t.version ? ` · ${t.version}` : ""} · ${percent(t.weight)}`;
    seg.classList.toggle("narrow", t.weight < 12);
    seg.classList.toggle("zero", !t.weight); // reached by rules only, or draining: no width, no label
  }
  for (const seg of [...bar.children]) {
    if (!seen.has(seg.dataset.revision)) seg.remove();
  }
  const down = status.proxy && !status.proxy.running;
  bar.classList.toggle("empty", !traffic.some((t) => t.weight > 0));
  bar.dataset.empty = down ? "the proxy is not running" : "nothing routed";
  // A revision with no weight, no backend and no role is only the proxy's old counters.
  const shown = traffic.filter((t) => t.weight || t.backends.length || roles[Number(t.revision.slice(1))]);
  renderRules(table, rules);
  // The status comes four times a second; the legend is rewritten only when it would read
  // differently (a tooltip or a selection in it would flicker otherwise).
  const key = JSON.stringify([shown.map((t) => [t.revision, t.version, t.weight, t.backends.length,
    num(t.rate), t.in_flight]), roles, down]);
  if (legend.dataset.key === key) return;
  legend.dataset.key = key;
  legend.innerHTML = shown.map((t) => {
    const role = roles[Number(t.revision.slice(1))];
    return `<div class="legend-item" data-revision="${esc(t.revision)}">
      <span class="swatch" style="background:${colorOf(Number(t.revision.slice(1)), roles)}"></span>
      <b>${esc(t.revision)}</b> <span class="muted">${esc(t.version || "")}${role ? ` · ${role}` : ""}</span>
      <span class="legend-weight" data-weight="${t.weight}">${percent(t.weight)}</span>
      <span class="muted small">${t.backends.length} backend${t.backends.length === 1 ? "" : "s"} · ${num(t.rate)} req/s · ${t.in_flight ?? 0} in flight</span>
    </div>`;
  }).join("") || (down ? '<p class="error-text">The load balancer is not running, so what users get is unknown (<code>zerodown up</code> starts it).</p>'
    : '<p class="muted">Nothing is routed: every request gets 503.</p>');
}

function renderRules(table, rules) {
  const ruleList = (table && table.rules) || [];
  const sticky = table && table.sticky;
  const parts = ruleList.map((r) => `${r.header ? `header ${r.header}` : `cookie ${r.cookie}`} ${r.equals !== undefined ? `= "${r.equals}"` : `~ /${r.regex}/`} → ${r.revision}`);
  if (sticky) parts.push(`sticky by ${sticky.mode} ${sticky.name}`);
  rules.textContent = parts.length ? `Rules: ${parts.join(" · ")}` : "";
}
