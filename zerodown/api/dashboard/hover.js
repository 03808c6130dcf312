// Hovering a chart reads every line's value at that moment (the nearest point within a
// few intervals), with a cursor line: a spike on the canary next to the stable's figure.

import { clock, esc } from "./format.js";

function nearest(points, t, within) {
  let best = null;
  for (const p of points) {
    if (Math.abs(p[0] - t) <= within && (!best || Math.abs(p[0] - t) < Math.abs(best[0] - t))) best = p;
  }
  return best;
}

// getCharts(): the specs the charts were last drawn from, in the order of their boxes.
export function attachHover(chartsEl, getCharts) {
  const tip = document.createElement("div");
  tip.className = "chart-tip";
  const cursor = document.createElement("div");
  cursor.className = "chart-cursor";
  const hide = () => { tip.hidden = true; cursor.hidden = true; };
  hide();
  document.body.append(tip, cursor);
  chartsEl.addEventListener("mouseleave", hide);
  chartsEl.addEventListener("mousemove", (event) => {
    const box = event.target.closest && event.target.closest(".chart-box");
    const chart = box && getCharts()[[...chartsEl.querySelectorAll(".chart-box")].indexOf(box)];
    if (!chart) { hide(); return; }
    const rect = box.getBoundingClientRect();
    const t = chart.t0 + ((event.clientX - rect.left) / rect.width) * (chart.t1 - chart.t0);
    const rows = chart.lines.map((line) => {
      const p = nearest(line.points, t, chart.interval * 3);
      return p && Number.isFinite(p[1]) ? `<div><span class="swatch" style="background:${line.color}"></span>${esc(line.name)} <b>${esc(chart.format(p[1]))}</b></div>` : "";
    }).join("");
    if (!rows) { hide(); return; }
    tip.innerHTML = `<div class="muted">${clock(t)}</div>${rows}`;
    tip.hidden = false;
    cursor.hidden = false;
    Object.assign(cursor.style, { left: `${event.clientX}px`, top: `${rect.top}px`, height: `${rect.height}px` });
    // Beside the cursor, on whichever side has room.
    const left = event.clientX + 14 + tip.offsetWidth > window.innerWidth ? event.clientX - 14 - tip.offsetWidth : event.clientX + 14;
    Object.assign(tip.style, { left: `${left}px`, top: `${rect.top}px` });
  });
}
