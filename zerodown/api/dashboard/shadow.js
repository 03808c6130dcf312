// The shadow card: users' requests copied to the new revision, its answers compared with
// stable's; how many differed, and the latest differing pairs (status.shadow, docs/json.md).

import { esc } from "./format.js";

const STATES = {
  running: ["comparing", "info"], pass: ["passed", "ok"], fail: ["failed", "bad"],
  inconclusive: ["undecided", "warn"], stopped: ["stopped", "warn"],
};

// What the card says: null when the latest deployment had no shadow.
export function shadowView(shadow) {
  if (!shadow) return null;
  const [word, tone] = STATES[shadow.state] || [shadow.state, "info"];
  const share = shadow.compared ? ` (${Number((100 * shadow.differing / shadow.compared).toPrecision(3))}%)` : "";
  const lost = [["dropped", "dropped"], ["timed_out", "timed out"], ["failed", "failed"]]
    .filter(([k]) => shadow[k]).map(([k, words]) => `${shadow[k]} ${words}`);
  return {
    title: `r${shadow.revision} · deployment ${shadow.deployment}`, word, tone,
    counts: `${shadow.compared} copies compared, ${shadow.differing} differed${share}`
      + (lost.length ? ` · ${lost.join(", ")}` : ""),
    examples: distinct((shadow.examples || []).slice().reverse()),
  };
}

// The same pair seen again (the same request answered the same way) once, with a count.
function distinct(examples) {
  const out = new Map();
  for (const e of examples) {
    const key = JSON.stringify([e.request, e.where, e.stable, e.shadow]);
    if (out.has(key)) out.get(key).times += 1;
    else out.set(key, { request: e.request, where: e.where, stable: e.stable, shadow: e.shadow, times: 1 });
  }
  return [...out.values()];
}

export function renderShadow(view, card, el) {
  card.hidden = !view;
  if (!view) return;
  el.innerHTML = `<p><span class="kind" data-tone="${view.tone}">${esc(view.word)}</span> `
    + `<span class="muted">${esc(view.title)}</span> · ${esc(view.counts)}</p>`
    + (view.examples.length ? `<ol class="events shadow-examples">${view.examples.map((e) => `<li>
      <span class="mono">${esc(e.request)}</span><span class="kind">${esc(e.where)}</span>
      <span class="text">stable ${esc(e.stable)} · shadow ${esc(e.shadow)}${e.times > 1 ? ` <span class="muted">×${e.times}</span>` : ""}</span></li>`).join("")}</ol>`
      : '<p class="muted">No differing answer.</p>');
}
