// The controller's HTTP API (docs/api.md): requests with the bearer token, and the
// live stream of status changes and events.

const TOKEN_KEY = "zerodown.token";
// The API beside the page (…/dashboard/ → …/api/v1/), so the controller can sit behind
// a reverse proxy under a path prefix of its own.
const API = new URL("../api/v1/", location.href).pathname;

// The printed dashboard URL may carry the token once (#token=... or ?token=...).
// It moves into sessionStorage (this tab only) and out of the address bar, so it
// is not left in the history or in a screenshot.
export function takeTokenFromUrl() {
  const url = new URL(location.href);
  const fromHash = new URLSearchParams(url.hash.slice(1)).get("token");
  const fromQuery = url.searchParams.get("token");
  const token = fromHash || fromQuery;
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    url.searchParams.delete("token");
    url.hash = "";
    history.replaceState(null, "", url.pathname + url.search);
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

function headers(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

async function check(response) {
  if (response.ok) return response.json();
  let message = `HTTP ${response.status}`;
  let field = null;
  try {
    const body = await response.json();
    message = body.error?.message || message;
    field = body.error?.field ?? null;
  } catch (_) { /* not JSON: keep the status line */ }
  throw new ApiError(response.status, message, field);
}

export async function get(path) {
  return check(await fetch(`${API}${path}`, { headers: headers(), cache: "no-store" }));
}

export async function post(path, body) {
  return check(await fetch(`${API}${path}`, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  }));
}

// Server-Sent Events over fetch() rather than EventSource: EventSource cannot send
// an Authorization header. Calls onMessage(event, data) per message; resolves when
// the stream ends (or stays silent too long), rejects when it cannot be opened.
export async function stream(after, onOpen, onMessage) {
  // ?after: the events since the last one seen come first, so a reconnect misses none.
  const response = await fetch(`${API}stream${after ? `?after=${after}` : ""}`, {
    headers: headers({ Accept: "text/event-stream" }), cache: "no-store",
  });
  if (!response.ok || !response.body) {
    await check(response);
    throw new ApiError(response.status, "the stream did not open");
  }
  onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await readWithin(reader, IDLE_MS);
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end), onMessage);
      buffer = buffer.slice(end + 2);
    }
  }
}

// The server pings every 15 s: a stream silent for longer is stuck somewhere between
// (a buffering proxy, a suspended laptop) and is given up, so the caller reconnects.
const IDLE_MS = 40000;

async function readWithin(reader, ms) {
  let timer;
  const idle = new Promise((resolve) => {
    timer = setTimeout(() => { reader.cancel().catch(() => {}); resolve({ done: true }); }, ms);
  });
  try {
    return await Promise.race([reader.read(), idle]);
  } finally {
    clearTimeout(timer);
  }
}

function dispatch(block, onMessage) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // a comment: the server's keep-alive ping
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "event") event = value;
    else if (name === "data") data.push(value);
  }
  if (!data.length) return;
  try {
    onMessage(event, JSON.parse(data.join("\n")));
  } catch (e) {
    console.warn("zerodown: a stream message was not JSON", e);
  }
}
