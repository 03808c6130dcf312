// Small line charts as inline SVG: a few dozen lines instead of a charting library,
// so the page stays far below its 300 KB budget and loads nothing from outside.

import { esc } from "./format.js";

const W = 300; // viewBox units; the SVG stretches to its box (preserveAspectRatio="none")
const H = 80;

// A round top for the y axis (1, 2, 2.5, 5 × 10^n) so the gridlines read easily.
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

// lines: [{color, faint, points: [[t, v], ...]}]; t0..t1 the time window (unix s).
// Colours may be CSS variables, so they go in style= (an SVG attribute cannot take var()).
// A gap in the data (the controller was down) breaks the line instead of bridging it.
export function lineChart({ title, lines, t0, t1, format, now, interval = 1 }) {
  const values = lines.flatMap((l) => l.points.map((p) => p[1])).filter(Number.isFinite);
  const top = niceMax(Math.max(0, ...values));
  const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * W;
  const y = (v) => H - (Math.min(v, top) / top) * (H - 2) - 1;
  const paths = lines.map((line) => {
    let d = "";
    let last = null;
    for (const [t, v] of line.points) {
      if (!Number.isFinite(v) || t < t0) { last = null; continue; }
      const gap = last === null || t - last > interval * 3.5;
      d += `${gap ? "M" : "L"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      last = t;
    }
    const faint = line.faint ? ' class="faint"' : "";
    return d ? `<path d="${d}" style="stroke:${line.color}"${faint} vector-effect="non-scaling-stroke"/>` : "";
  }).join("");
  const grid = [0.25, 0.5, 0.75].map((f) => `<line x1="0" x2="${W}" y1="${(H * f).toFixed(1)}" y2="${(H * f).toFixed(1)}" vector-effect="non-scaling-stroke"/>`).join("");
  const empty = values.length ? "" : '<div class="chart-empty">no traffic yet</div>';
  const ago = Math.max(1, Math.round((now - t0) / 60));
  return `<figure class="chart">
  <figcaption><span>${esc(title)}</span><span class="muted">max ${esc(format(top))}</span></figcaption>
  <div class="chart-box">${empty}<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" aria-hidden="true"><g class="grid">${grid}</g><g class="lines">${paths}</g></svg></div>
  <div class="chart-axis muted"><span>−${ago} min</span><span>now</span></div>
</figure>`;
}
