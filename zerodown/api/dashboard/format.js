// How numbers, times and names read on the page (the CLI's render.py, in JS).

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

export function seconds(s) {
  if (!Number.isFinite(s)) return "–";
  if (s < 1) return `${s.toFixed(2)}s`;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(Math.round(s) / 60);
  if (m < 60) return `${m}m${String(Math.round(s) % 60).padStart(2, "0")}s`;
  if (m < 48 * 60) return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(m / 1440)}d`;
}

export function ago(t, now) {
  return `${seconds(Math.max(0, now - t))} ago`;
}

export function clock(t) {
  return new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

export function day(t) {
  const d = new Date(t * 1000);
  const today = new Date();
  return d.toDateString() === today.toDateString()
    ? clock(t) : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
}

export function percent(weight) {
  return `${Number(weight.toPrecision(4))}%`;
}

export function num(value, digits = 1) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 1000) return `${(value / 1000).toFixed(1)}k`;
  return value.toFixed(digits);
}

export function ms(value) {
  if (!Number.isFinite(value)) return "–";
  return value < 10 ? `${value.toFixed(2)} ms` : `${Math.round(value)} ms`;
}

export function label(rev) {
  return rev ? `r${rev.revision}${rev.version ? ` (${rev.version})` : ""}` : "–";
}

export function phaseText(phase) {
  return String(phase || "").replace(/_/g, " ");
}
