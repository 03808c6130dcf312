// The event log, newest first, kept to the last few hundred.

import { clock, esc } from "./format.js";

const KEEP = 300;

export class EventLog {
  constructor() {
    this.events = []; // oldest first
    this.cursor = 0;
  }

  add(list) {
    for (const e of list) {
      if (e.id <= this.cursor) continue; // the stream and a catch-up read may overlap
      this.events.push(e);
      this.cursor = e.id;
    }
    if (this.events.length > KEEP) this.events = this.events.slice(-KEEP);
  }
}

function tone(kind) {
  if (/fail|error/.test(kind)) return "bad";
  if (/passed|succeeded/.test(kind)) return "ok";
  if (/request|inconclusive|restore/.test(kind)) return "warn";
  return "";
}

export function renderEvents(events, el) {
  el.innerHTML = events.slice().reverse().map((e) => `<li data-event="${e.id}" data-kind="${esc(e.kind)}">
    <time class="muted mono">${clock(e.time)}</time><span class="kind" data-tone="${tone(e.kind)}">${esc(e.kind)}</span><span class="text">${esc(e.text)}</span></li>`).join("")
    || '<li class="muted">No events yet.</li>';
}
