// Per-revision req/s, error % and latency over the last minutes: the first read takes
// the whole window, later reads only the last seconds, merged by timestamp (a whole
// window every two seconds would be ~50 KB a time for nothing).

import { lineChart } from "./charts.js";
import { esc, ms, num } from "./format.js";
import { colorOf } from "./palette.js";

export const WINDOW = 300;

export class Metrics {
  constructor() {
    this.series = new Map(); // "3" -> [{t, rps, error_rate, p50_ms, p99_ms}], oldest first
    this.interval = 1;
    this.loaded = false;
    this.drawn = []; // the chart specs last drawn (hover.js reads them)
  }

  // The query for the next read: the whole window first, then a little overlap.
  query() {
    return `metrics?window=${this.loaded ? 10 : WINDOW}`;
  }

  merge(doc, now) {
    this.interval = doc.interval_s || 1;
    for (const [rev, points] of Object.entries(doc.series || {})) {
      const mine = this.series.get(rev) || [];
      const last = mine.length ? mine[mine.length - 1].t : -Infinity;
      for (const p of points) if (p.t > last) mine.push(p);
      this.series.set(rev, mine);
    }
    for (const [rev, mine] of this.series) {
      const keep = mine.filter((p) => p.t >= now - WINDOW);
      if (keep.length) this.series.set(rev, keep);
      else this.series.delete(rev);
    }
    this.loaded = true;
  }
}

export function renderMetrics(metrics, roles, chartsEl, legendEl, now) {
  // A revision that served nothing in the whole window draws no flat line at zero.
  const revs = [...metrics.series.keys()]
    .filter((r) => roles[Number(r)] || metrics.series.get(r).some((p) => p.rps > 0))
    .sort((a, b) => Number(a) - Number(b));
  const line = (rev, pick, faint = false, what = "") => ({
    color: colorOf(Number(rev), roles), faint, name: `r${rev}${what}`,
    points: metrics.series.get(rev).map((p) => [p.t, pick(p)]),
  });
  // Less than five minutes of data (a controller just started) fills the width it has,
  // down to one minute, instead of a sliver at the right edge.
  const first = Math.min(...revs.map((r) => metrics.series.get(r)[0].t));
  const span = Math.min(WINDOW, Math.max(60, Math.ceil((now - first) / 60) * 60));
  const common = { t0: now - span, t1: now, now, interval: metrics.interval };
  metrics.drawn = [
    { ...common, title: "requests / s", format: (v) => num(v, 0),
      lines: revs.map((r) => line(r, (p) => p.rps)) },
    { ...common, title: "errors %", format: (v) => `${num(v, 2)}%`,
      lines: revs.map((r) => line(r, (p) => 100 * p.error_rate)) },
    { ...common, title: "latency: p50, p99 (faint)", format: ms,
      lines: revs.flatMap((r) => [line(r, (p) => p.p50_ms, false, " p50"), line(r, (p) => p.p99_ms, true, " p99")]) },
  ];
  chartsEl.innerHTML = metrics.drawn.map(lineChart).join("");
  legendEl.innerHTML = revs.map((r) => {
    const role = roles[Number(r)];
    return `<span class="legend-chip"><span class="swatch" style="background:${colorOf(Number(r), roles)}"></span>r${esc(r)}${role ? ` <span class="muted">${role}</span>` : ""}</span>`;
  }).join("");
}
