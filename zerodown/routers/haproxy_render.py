"""Routing table -> HAProxy: the configuration text and the Runtime API commands. Pure.

How a table maps onto HAProxy (the driver, haproxy.py, only carries this out):

- Each revision gets a *lane*: a pre-declared backend `zd_lane<N>` holding that
  revision's backends as servers. A revision keeps its lane while it stays in
  the table, so a weight change never moves a server.
- Every request gets a point on a 0..9999 line (basis points of the 0..100
  line of the embedded proxy): `rand(10000)`, or fixed per user when the table
  is sticky (a cookie the proxy sets, or crc32 of a header/cookie naming the
  user). `split.map` maps point ranges to lanes (`map_int`), revisions lying on
  the line in table order, exactly as in the embedded proxy.
- Rules come first: each run of consecutive rules reading the same header or
  cookie is one `map_reg` map (regex -> lane), the runs in table order.
- All of that is changeable at run time (servers: `add server`, `set server`;
  maps: `prepare map` / `add map` / `commit map`, which swap a whole map at
  once). Only the *shape* needs a new configuration and a hitless reload: the
  number of lanes, the header/cookie each rule line reads, the sticky mode and
  the health check. A shape is kept while the new table fits in it.

What differs from the embedded proxy (documented in haproxy.py too): the sticky
cookie holds basis points (an integer), not a percent; a header rule looks at
the last header of that name; server weights are scaled to HAProxy's 1..256.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from zerodown.model import HealthCheck, RoutingTable, Rule, Sticky
from zerodown.routers import haproxy_tls as tls
from zerodown.routers.haproxy_regex import cli_safe_regex, literal_regex
from zerodown.routers.capabilities import Asks, Refusal
from zerodown.tls_config import TlsSettings

LINE = 10_000            # points on the split line: basis points of 0..100 percent
MAX_WEIGHT = 256         # HAProxy's largest server weight
NONE_BACKEND = "zd_none"  # answers 503: no revision serves this request
SPLIT_MAP = "split.map"
# "on 1" while the table is sticky: the sticky lines of the frontend read it, so a table
# that drops its stickiness (a canary promoted) and one that brings it back need no reload.
STICKY_MAP = "sticky.map"
_SERVER_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
# `add server` inherits no default: HAProxy 2.6 leaves a dynamic server without an idle
# connection pool (pool-purge-delay 0, pool-max-conn 0), so every request would open a new
# connection to the instance (a third of the req/s, benchmarks/proxy_bench.py haproxy-zd).
# These are the values a server written in the configuration gets.
DYNAMIC_POOL = "pool-purge-delay 5s pool-max-conn -1"


@dataclass(frozen=True)
class Settings:
    """What the generated configuration needs besides the table: where things live."""

    service: str
    listen: str          # "host:port" of the frontend
    state_dir: str       # absolute; holds the maps and the stats socket
    stats_socket: str
    timeout_server: float = 120.0  # an instance's first byte: past it, retried (idempotent)
    timeout_connect: float = 2.0
    timeout_client: float = 60.0
    timeout_queue: float = 10.0  # a request's wait behind servers at their maxconn: then 503
    maxconn: int | None = None  # each server's connections at most (None: unbounded, no queue)
    hard_stop_after: float = 60.0  # bound on an old worker's drain after a reload
    tls: TlsSettings | None = None  # the frontend speaks https (haproxy_tls.py)


@dataclass(frozen=True)
class Shape:
    """The part of the HAProxy configuration the Runtime API cannot change."""

    lanes: int
    rule_sources: tuple[tuple[str, str], ...] = ()  # ("header" | "cookie", name) per rule line
    sticky: Sticky | None = None
    health_check: HealthCheck | None = None


@dataclass(frozen=True)
class Layout:
    """A shape plus which lane each revision of the table rides in."""

    shape: Shape
    lanes: tuple[tuple[str, int], ...] = ()  # (revision name, lane index), table order

    def lane_of(self, revision: str) -> int | None:
        return dict(self.lanes).get(revision)


# --- names -----------------------------------------------------------------

def lane_backend(index: int) -> str:
    return f"zd_lane{index}"


def lane_index(backend: str) -> int | None:
    m = re.fullmatch(r"zd_lane(\d+)", backend)
    return int(m.group(1)) if m else None


def server_name(backend_id: str) -> str:
    """HAProxy's name for a backend: its id when HAProxy accepts it, else a safe stand-in."""
    if _SERVER_NAME.match(backend_id):
        return backend_id
    safe = re.sub(r"[^A-Za-z0-9_.:-]", "_", backend_id)[:80]
    return f"{safe}-{zlib.crc32(backend_id.encode()):08x}"


def rule_map(line: int) -> str:
    return f"rule-{line}.map"


# --- what it can do (routers/capabilities.py) -------------------------------------

_READABLE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")  # safe inside req.fhdr(...) / req.cook(...)


def capability_refusals(asks: Asks, options: dict) -> list[Refusal]:
    """Managed mode routes by any header or cookie whose name its configuration can hold;
    attach mode (router.socket) only weighs servers of the user's one backend."""
    attached = "socket" in options
    out: list[Refusal] = []
    for r in asks.rules:
        if attached:
            out.append((r.key, f"the haproxy router in attach mode (router.socket) splits by "
                       f"weight only and cannot route by {r.kind} {r.name!r}; remove it "
                       f"(preview_header: null), or use managed haproxy or the embedded router"))
        elif not _READABLE.match(r.name):
            out.append((r.key, f"the haproxy router can read only {r.kind} names of letters, "
                       f"digits, _ . and -, got {r.name!r}"))
    if asks.sticky is not None:
        key, sticky = asks.sticky
        if attached:
            out.append((key, "the haproxy router in attach mode (router.socket) splits by "
                       "weight only and cannot keep a user on one side (sticky); use managed "
                       "haproxy or the embedded router"))
        elif not _READABLE.match(sticky.name):
            out.append((f"{key}.name", f"the haproxy router can read only names of letters, "
                       f"digits, _ . and -, got {sticky.name!r}"))
    return out


# --- layout: lanes and shape -------------------------------------------------

def rule_source(rule) -> tuple[str, str]:
    """("header", name) or ("cookie", name): what a rule (or a strategy's match) reads."""
    return ("header", rule.header) if rule.header is not None else ("cookie", rule.cookie)


def rule_runs(rules: tuple[Rule, ...]) -> tuple[tuple[str, str], ...]:
    """The header/cookie each run of consecutive rules reads, in table order."""
    runs: list[tuple[str, str]] = []
    for rule in rules:
        source = rule_source(rule)
        if not runs or runs[-1] != source:
            runs.append(source)
    return tuple(runs)


def align_rules(rules: tuple[Rule, ...], sources: tuple[tuple[str, str], ...]) -> list[int] | None:
    """The rule line of each rule, keeping table order; None if `sources` cannot carry them.

    Lines left without a rule get an empty map, so removing rules needs no reload.
    """
    lines, pos = [], -1
    for rule in rules:
        source = rule_source(rule)
        if pos >= 0 and sources[pos] == source:
            lines.append(pos)
            continue
        pos = next((i for i in range(pos + 1, len(sources)) if sources[i] == source), -1)
        if pos < 0:
            return None
        lines.append(pos)
    return lines


def plan_layout(table: RoutingTable, current: Layout | None, min_lanes: int = 4,
                reserve: Shape | None = None) -> Layout:
    """The layout for `table`: the current shape if the table fits in it, lanes kept stable.

    A new shape also carries `reserve`: the rule sources and stickiness the service's
    strategy will ask for (its preview header, its match rules, its sticky split), so
    that a deployment reaches them without a reload. A table without stickiness fits
    any shape (the sticky lines are switched off by STICKY_MAP at run time).
    """
    needed = len(table.revisions)
    shape = current.shape if current else None
    if (shape is None or shape.lanes < needed
            or (table.sticky is not None and shape.sticky != table.sticky)
            or shape.health_check != table.health_check
            or align_rules(table.rules, shape.rule_sources) is None):
        base = reserve or Shape(0)
        runs = rule_runs(table.rules)
        sources = runs + tuple(src for src in base.rule_sources if src not in runs)
        lanes = max(min_lanes, needed, shape.lanes if shape else 0, base.lanes)
        sticky = table.sticky or base.sticky or (shape.sticky if shape else None)
        shape = Shape(lanes, sources, sticky, table.health_check)
    kept = {name: lane for name, lane in (current.lanes if current else ())
            if table.revision(name) is not None}
    free = [i for i in range(shape.lanes) if i not in kept.values()]
    assigned = []
    for rev in table.revisions:
        lane = kept[rev.name] if rev.name in kept else free.pop(0)
        assigned.append((rev.name, lane))
    return Layout(shape, tuple(assigned))


# --- what the table asks of each lane and map ---------------------------------

def servers(table: RoutingTable, layout: Layout) -> dict[tuple[int, str], tuple[str, int]]:
    """(lane, server name) -> (address, weight) for every backend of the table."""
    out = {}
    for rev in table.revisions:
        lane = layout.lane_of(rev.name)
        top = max((b.weight for b in rev.backends), default=1)
        scale = min(1.0, MAX_WEIGHT / top)  # keep ratios, within HAProxy's range
        for b in rev.backends:
            out[(lane, server_name(b.id))] = (b.address, max(1, round(b.weight * scale)))
    return out  # type: ignore[return-value]


def split_entries(table: RoutingTable, layout: Layout) -> list[tuple[str, str]]:
    """`split.map`: point ranges "lo:hi" -> lane backend, revisions in table order."""
    entries, edge, low = [], 0.0, 0
    weighted = [r for r in table.revisions if r.weight > 0]
    for i, rev in enumerate(weighted):
        edge += rev.weight
        high = LINE if i == len(weighted) - 1 else min(LINE, round(edge * LINE / 100))
        if high > low:
            entries.append((f"{low}:{high - 1}", lane_backend(layout.lane_of(rev.name))))  # type: ignore[arg-type]
        low = high
    return entries


def rule_entries(table: RoutingTable, layout: Layout) -> list[list[tuple[str, str]]]:
    """Per rule line, its `map_reg` entries (regex -> lane backend) in table order."""
    lines: list[list[tuple[str, str]]] = [[] for _ in layout.shape.rule_sources]
    for rule, line in zip(table.rules, align_rules(table.rules, layout.shape.rule_sources) or ()):
        lane = layout.lane_of(rule.revision)
        if lane is None:
            continue  # a rule for a revision not in the table sends nowhere: skip it
        pattern = "^" + literal_regex(rule.equals) + "$" if rule.equals is not None \
            else cli_safe_regex(rule.regex or "")
        lines[line].append((pattern, lane_backend(lane)))
    return lines


def map_files(table: RoutingTable, layout: Layout) -> dict[str, list[tuple[str, str]]]:
    """Every map file the frontend reads -> its entries."""
    files = {SPLIT_MAP: split_entries(table, layout)}
    if layout.shape.sticky is not None:  # only a sticky shape's frontend reads it
        files[STICKY_MAP] = [("on", "1")] if table.sticky == layout.shape.sticky else []
    for i, entries in enumerate(rule_entries(table, layout)):
        files[rule_map(i)] = entries
    return files


def map_text(entries: list[tuple[str, str]]) -> str:
    return "".join(f"{k} {v}\n" for k, v in entries)


# --- the configuration ------------------------------------------------------------

def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def check_options(hc: HealthCheck | None) -> str:
    """The server keywords for health checks (dynamic servers inherit no defaults): active
    ones, and passive ones on users' requests as the embedded proxy ejects a backend (and
    nginx counts max_fails on `error timeout`): `fall` connection failures in a row take
    the server down at once, the active checks (`rise`) bring it back. layer4, not layer7:
    layer7 also counts every 5xx answer, which would take a bad revision's instances out
    for the application's own errors, flapping, and hide those errors from the analysis."""
    if hc is None:
        return ""
    return (f" check inter {_ms(hc.interval)} fall {hc.fall} rise {hc.rise}"
            f" observe layer4 error-limit {hc.fall} on-error mark-down")


def server_line(name: str, address: str, weight: int, hc: HealthCheck | None,
                maxconn: int | None = None) -> str:
    return f"server {name} {address} weight {weight}{maxconn_option(maxconn)}{check_options(hc)}"


def maxconn_option(maxconn: int | None) -> str:
    """A server's bound (router.max_conns_per_backend): more requests wait in HAProxy's
    queue, for at most `timeout queue` (router.queue_timeout). Written on each server, as
    dynamic servers inherit no default-server."""
    return f" maxconn {maxconn}" if maxconn else ""


def frontend_lines(settings: Settings, shape: Shape) -> list[str]:
    """Choose a lane per request: rules first, then the point on the split line."""
    d = settings.state_dir
    unset = "!{ var(txn.zd_lane) -m found }"
    out = []
    for i, (kind, name) in enumerate(shape.rule_sources):
        fetch = f"req.fhdr({name})" if kind == "header" else f"req.cook({name})"
        out.append(f"http-request set-var(txn.zd_lane) {fetch},map_reg({d}/{rule_map(i)}) "
                   f"if {unset}")
    s = shape.sticky
    on = f"{{ str(on),map({d}/{STICKY_MAP}) -m found }}"  # the table in force is sticky
    if s is not None and s.mode == "cookie":
        digits = "^[0-9][0-9]?[0-9]?[0-9]?$"  # a point the proxy gave out, 0..9999
        out += [f"http-request set-var(txn.zd_point) req.cook({s.name}) "
                f"if {on} {{ req.cook({s.name}) -m reg {digits} }}",
                f"http-request set-var(txn.zd_new) bool(1) if {on} "
                f"!{{ var(txn.zd_point) -m found }} {unset}"]
    elif s is not None:
        fetch = f"req.fhdr({s.name},1)" if s.mode == "header" else f"req.cook({s.name})"
        out.append(f"http-request set-var(txn.zd_point) {fetch},crc32,mod(1000000),div(100) "
                   f"if {on} {{ {fetch} -m len gt 0 }}")
    out += [f"http-request set-var(txn.zd_point) rand({LINE}) if !{{ var(txn.zd_point) -m found }}",
            f"http-request set-var(txn.zd_lane) var(txn.zd_point),map_int({d}/{SPLIT_MAP}) "
            f"if {unset}"]
    if s is not None and s.mode == "cookie":
        out.append(f'http-response add-header Set-Cookie "{s.name}=%[var(txn.zd_point)]; Path=/; '
                   f'Max-Age={s.max_age}; HttpOnly" if {{ var(txn.zd_new) -m found }}')
    out += ["use_backend %[var(txn.zd_lane)] if { var(txn.zd_lane) -m found }",
            f"default_backend {NONE_BACKEND}"]
    return out


def render_config(settings: Settings, layout: Layout, table: RoutingTable) -> str:
    """The whole haproxy.cfg for `table` in `layout`: what a (re)started HAProxy serves."""
    shape, hc = layout.shape, layout.shape.health_check
    wanted = servers(table, layout)
    text = [
        # No table version here: a table that moves only weights renders the same file,
        # which an apply on a remote host then does not send again (haproxy.json has it).
        f"# Generated by zerodown for service {settings.service}.",
        "# Rewritten on every change of its text: edit the routing table, not this file.",
        "global",
        f"    stats socket {settings.stats_socket} level admin expose-fd listeners",
        "    stats timeout 30s",
        f"    hard-stop-after {_ms(settings.hard_stop_after)}",
        "    log stderr format short local0 notice",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option dontlognull",
        f"    timeout connect {_ms(settings.timeout_connect)}",
        f"    timeout client {_ms(settings.timeout_client)}",
        f"    timeout server {_ms(settings.timeout_server)}",
        "    timeout http-keep-alive 10s",
        f"    timeout queue {_ms(settings.timeout_queue)}",
        "    # a connection refused by an instance going away is tried on another; so is a",
        "    # request an instance (its host cut off) answers nothing within timeout server,",
        "    # unless it is not idempotent (disable-l7-retry in each backend)",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response response-timeout",
        "",
        f"frontend zd_{settings.service}",
        f"    bind {settings.listen}" + (tls.bind_options(settings.tls, settings.state_dir)
                                         if settings.tls else ""),
        *(["    http-request set-header X-Forwarded-Proto https"] if settings.tls else []),
        # an ask to upgrade to h2c is answered as HTTP/1.1, as by the embedded proxy: passed
        # on, a backend that takes it gets a tunnel HAProxy no longer reads (h2c smuggling)
        "    http-request del-header upgrade if { req.hdr(upgrade) -m sub -i h2c }",
        "    http-request del-header http2-settings",
        *("    " + line for line in frontend_lines(settings, shape)),
        *(tls.redirect_frontend(settings.service, settings.tls, settings.listen)
          if settings.tls else []),
    ]
    for lane in range(shape.lanes):
        text += ["", f"backend {lane_backend(lane)}", "    balance roundrobin",
                 "    http-request disable-l7-retry unless { method GET HEAD PUT DELETE OPTIONS }"]
        if hc is not None:
            text += [f"    option httpchk GET {hc.path}", f"    timeout check {_ms(hc.timeout)}"]
        text += [f"    {server_line(name, addr, weight, hc, settings.maxconn)}"
                 for (l, name), (addr, weight) in wanted.items() if l == lane]
    text += ["", f"backend {NONE_BACKEND}",
             '    http-request return status 503 content-type text/plain '
             'string "no revision serves this request"', ""]
    return "\n".join(text)
