"""Commands that set a service up and take it down: init, validate, schema, up, down."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from zerodown.commands.follow import watch
from zerodown.commands.connect import deploy_patience, patient_client
from zerodown.daemon import process
from zerodown.config import ServiceConfig, json_schema, parse_config, starter_yaml
from zerodown.config_files import check_files
from zerodown.controller import Controller, labels, maybe_label
from zerodown.engine.store import Change
from zerodown.engine.unlisted import off_list, renamed
from zerodown.gather import UP_REASON
from zerodown.errors import HostFailure, OwnerUnreadable, RouterError, UsageError, ZerodownError
from zerodown.model import Adopted, fleet_hosts, hosts_to_ask, on_host, silent_host
from zerodown.runtimes.health import probe
from zerodown.proxy.prefix import normal
from zerodown.service_url import config_url, named_host, shared_site

EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "app" / "app.py"
INIT_VERSIONS = ("v1", "v2", "v3")
SERVE_TIMEOUT = 10.0  # after its deployment, the service must answer through the listener


# --- init, validate -------------------------------------------------------------------

def starter(service: str, port: int) -> str:
    """The starter file, run from releases/{version}/ with this machine's python."""
    python = "python3" if shutil.which("python3") else sys.executable
    text = starter_yaml(service, port)
    cwd = "  cwd: releases/{version}     # one directory per version\n"
    edited = (text.replace('command: ["python", ', f"command: [{json.dumps(python)}, ", 1)
              .replace("  cwd: .\n", cwd, 1)
              .replace("see `zerodown schema`", "see `zerodown validate --schema`", 1))
    if "releases/{version}" not in edited:  # the template changed shape: say so, do not guess
        raise ZerodownError("zerodown init: the starter template has no `cwd: .` line to point "
                            "at releases/{version}")
    parse_config(edited, file="zerodown.yaml")  # what init writes must validate
    return edited


def cmd_init(args: argparse.Namespace, ctl: Controller) -> int:
    target_file = Path(ctl.file)
    if target_file.exists() and not args.force:
        raise UsageError(f"{ctl.file} already exists (--force overwrites it)")
    if not EXAMPLE_APP.is_file():
        raise ZerodownError(f"the example app is not where zerodown expects it ({EXAMPLE_APP}); "
                            "init needs a checkout or sdist that has examples/")
    text = starter(args.service, args.port)
    root = target_file.resolve().parent
    root.mkdir(parents=True, exist_ok=True)
    written = [str(target_file)]
    for version in INIT_VERSIONS:
        dest = root / "releases" / version / "app.py"
        if not dest.exists() or args.force:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(EXAMPLE_APP, dest)
            written.append(os.path.relpath(dest))
    target_file.write_text(text)
    print("wrote " + ", ".join(written))
    print(f"next: `zerodown up` serves v1 at http://127.0.0.1:{args.port}, "
          f"then `zerodown deploy v2`")
    return 0


def cmd_validate(args: argparse.Namespace, ctl: Controller) -> int:
    if args.schema:
        return cmd_schema(args, ctl)
    cfg = ctl.config()  # a ConfigError lists every problem with file:line: key (exit 2)
    check_files(cfg)  # and the files it names (a load alone does not read them)
    from zerodown.commands.shared_check import check_remote_shared
    unasked = check_remote_shared(ctl, cfg)  # a ConfigError (exit 2) on a conflict there
    print(f"{ctl.file}: valid; service {cfg.service} on {cfg.listen}, {cfg.instances} "
          f"instances, strategy {cfg.strategy.kind}, router {cfg.router.kind}, "
          f"runtime {cfg.runtime.kind}")
    from zerodown.strategies.shadow_options import warnings
    for line in warnings(cfg.strategy) + ([unasked] if unasked else []):
        print(f"{ctl.file}: {line}", file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace, ctl: Controller) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


# --- up, down -------------------------------------------------------------------------

def cmd_up(args: argparse.Namespace, ctl: Controller) -> int:
    """The proxy, then the controller beside it (separate: the proxy serves whatever the
    controller does), then the first version, deployed by the controller."""
    cfg = ctl.config()
    check_files(cfg)  # a broken certificate: refused here, naming it, before anything starts
    first = _from_nothing(ctl, cfg.service)
    if first is not None:  # a version that cannot start (a host not ready) starts nothing:
        from zerodown.runtimes import check_release  # (on a fleet app.cwd is on the hosts)
        check_release(cfg, args.version or first, ctl.state_dir)  # (and owned elsewhere)
    try:
        ctl.ensure_router(cfg)
        _hand_certificates(ctl, cfg)
        store, service = ctl.store(), cfg.service
        client = patient_client(process.ensure(ctl.file, ctl.state_dir))
    except KeyboardInterrupt:  # a deployment's watch says its own; before one, say what runs
        print("\ninterrupted before any version was deployed (the load balancer or the "
              "controller may have started): `zerodown up` again finishes, `zerodown down` "
              "stops what started", file=sys.stderr)
        return 130
    active = store.active_deployment(service)
    if active is not None:
        print(f"deployment {active.id} is {active.phase}: seeing it through first", flush=True)
        code = watch(client, active.id, replay=False, no_color=args.no_color)
        if code:
            return code
    stable = store.stable(service)[0]
    serving = stable is not None and _serves(ctl, store, service, stable)
    version = store.revision(service, stable).version if stable is not None else None
    if serving and args.version not in (None, version):
        raise UsageError(f"{service} already serves {version}; `zerodown deploy {args.version}` "
                         "ships another version")
    if not serving:
        # Nothing serves now: a plan that routes nothing for a while loses no one.
        first = args.version or version or "v1"
        answer = client.post("/api/v1/deployments", {"version": first, "allow_downtime": True,
                                                     "reason": UP_REASON},
                             deploy_patience(client, args, f"deploy {first}", cfg))
        code = watch(client, answer["id"], no_color=args.no_color)
        if code:
            return code
    _wait_serving(cfg)
    stable = store.stable(service)[0]
    print(f"{service} is up: {maybe_label(labels(store, service), stable)} serves at "
          f"{config_url(cfg).text()} (`zerodown down` stops it)")
    status = client.get("/api/v1/status")
    print(f"controller pid {process.pid(ctl.state_dir)}: `zerodown status`, "
          f"`zerodown deploy VERSION`"
          + (f"; dashboard {status['dashboard']}" if status.get("dashboard") else ""))
    note = process.listen_note(cfg.controller.listen, status.get("dashboard"))
    if note:
        print(note, file=sys.stderr)
    return 0


def _hand_certificates(ctl: Controller, cfg: ServiceConfig) -> None:
    """`zerodown up` on a running service hands it renewed certificate files at once (a
    certbot --deploy-hook), as the controller does every tls.check_every."""
    from zerodown.tls_refresh import refresh
    outcome = refresh(ctl.router(cfg), cfg.tls)
    for line in outcome.refused:
        print(f"certificates not handed to the load balancer: {line}", file=sys.stderr)
    if outcome.handed and not outcome.first:  # a first look (a first up) says nothing
        print("renewed certificate files handed to the running load balancer", flush=True)


def _from_nothing(ctl: Controller, service: str) -> str | None:
    """The version an `up` would start if nothing of the service runs (a first up, or one
    after `down`), else None. After a down it was checked only once the load balancer and
    the controller had started: refused by a host not ready, "nothing was changed" left a
    proxy answering 502 on the service's address."""
    if not ctl.db_path.exists():
        return "v1"
    store = ctl.store()
    if store.instances(service, live=True):
        return None
    stable = store.stable(service)[0]
    return store.revision(service, stable).version if stable is not None else "v1"


def _serves(ctl: Controller, store, service: str, revision: int) -> bool:
    """Does every instance the routing table gives `revision` run, routed (so nothing
    needs starting)? Not after a `down` that left a silent host's instances: the others
    are stopped, though the table still names them."""
    rows = [r for r in store.instances(service, live=True).values()
            if r.state == "routed" and r.ref.revision == revision]
    route = store.routing(service).table.revision(f"r{revision}")
    if route is not None and {b.id for b in route.backends} - {r.ref.name(service)
                                                               for r in rows}:
        return False
    runtime = ctl.runtime()
    return bool(rows) and all(r.instance(service) and runtime.alive(r.instance(service))
                              for r in rows)


def _wait_serving(cfg: ServiceConfig) -> None:
    """Poll the health check through the load balancer's listener until it passes."""
    host, _, port = cfg.listen.rpartition(":")
    host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)
    deadline, seen = time.monotonic() + SERVE_TIMEOUT, "nothing yet"
    # the probe speaks plain HTTP: behind TLS it can only see the listener accept
    health = dataclasses.replace(cfg.health, tcp=True) if cfg.tls else cfg.health
    name, prefix = _shared_site(cfg)
    if prefix is not None and not cfg.router.options.get("strip_path_prefix", True):
        health = dataclasses.replace(health, tcp=True)  # its app's health path is not under it
    elif prefix is not None:  # the proxy takes the prefix off: the app sees its health path
        health = dataclasses.replace(health, path=prefix + health.path)
    while time.monotonic() < deadline:
        ok, seen = probe(f"{host}:{port}", health, name)
        if ok:
            return
        time.sleep(0.05)
    raise RouterError(f"{cfg.service} does not answer through {cfg.listen} within "
                      f"{SERVE_TIMEOUT:g}s (last: {seen})")


def _shared_site(cfg: ServiceConfig) -> tuple[str | None, str | None]:
    """On a shared proxy: a Host name this service answers (None: any host), and the path
    prefix it answers only under (`/api`; None: at /)."""
    site = shared_site(cfg.router.kind, cfg.router.options)
    if site is None:
        return None, None
    mount = normal(site[1])
    return named_host(site[0]), mount if mount != "/" else None


def cmd_down(args: argparse.Namespace, ctl: Controller) -> int:
    cfg = ctl.working_config()
    lb = _RouterStop(ctl, cfg)
    owned = cfg.runtime.kind == "ssh" and hasattr(ctl.runtime(cfg), "check_owner")
    if owned:  # another controller's service (and load balancer): refused, nothing stopped;
        runtime = ctl.runtime(cfg)  # on a host off the list with live rows too (stopped there)
        off = off_list(ctl.store(), cfg.service, getattr(runtime, "listed_as", None),
                       fleet_hosts(cfg.runtime)) if ctl.has_state() else []
        runtime.check_owner(unlisted=off)
    if not ctl.has_state():
        process.stop(ctl.state_dir)
        lb.stop()
        if lb.silent:
            print(f"zerodown down: {lb.silent_text()}", file=sys.stderr)
            return 1
        print(f"{cfg.service}: nothing deployed here")
        return 0
    store, service = ctl.store(), cfg.service
    active = store.active_deployment(service)
    if active is not None:
        raise UsageError(f"deployment {active.id} is {active.phase}; abort it first "
                         "(`zerodown abort`), or wait for it to end")
    process.stop(ctl.state_dir)  # first: it starts no deployment while the rest goes
    process.down_marker(ctl.state_dir).touch()  # `status` now only looks
    # The proxy first: it finishes its in-flight requests, then nothing reaches the instances.
    # A router host that does not answer keeps its load balancer (named below); the
    # instances still stop: down was asked for, and the next down stops the rest.
    lb.stop()
    runtime = ctl.runtime(cfg)
    hosts = fleet_hosts(cfg.runtime)
    renamed(store, service, runtime, hosts)  # app1 listed as deploy@app1: asked once
    rows = store.instances(service, live=True)
    # also any the store lost track of; a host a row records, listed or not, is asked too:
    # not answering, it is named below and its rows stay live for the next down
    recorded = sorted({r.runs_on for r in rows.values() if r.runs_on})
    adopted = runtime.adopt(service, recorded)
    silent = dict(getattr(adopted, "unreachable", {}))
    found = {i.id: i for i in adopted}
    for row in rows.values():
        inst = row.instance(service)
        if inst is not None:
            found.setdefault(inst.id, inst)

    def on(i) -> str | None:  # where it runs: recorded, or its slot's (an older store)
        return on_host(i.runs_on, hosts, i.slot.index)
    reach = [i for i in found.values() if silent_host(adopted, on(i)) is None]
    # the intent, durable before any stop: a down interrupted leaves them stopping, so the
    # next down, or a deployment's reconcile, stops what still runs (engine/stopping.py)
    store.set_instances(service, [Change(i.ref, "stopping") for i in reach if i.ref in rows])

    def stop(inst) -> HostFailure | None:
        try:
            runtime.stop(inst, cfg.stop_grace)  # each bounded by runtime.command_timeout
        except HostFailure as e:  # the host stopped answering since adopt: same rule
            return e
        return None
    with ThreadPoolExecutor(max_workers=min(16, len(reach) or 1)) as pool:
        for failed in pool.map(stop, reach):
            if failed is not None:
                silent.setdefault(failed.host, str(failed))
    adopted = Adopted(adopted, silent)
    left = {ref: row for ref, row in rows.items()
            if silent_host(adopted, row.host(hosts)) is not None}
    stopped = [i for i in reach if silent_host(adopted, on(i)) is None]
    lb.stop()  # attach mode: servers whose idle connections just closed go too
    said = _down_says(None if lb.silent else lb.says(), len(stopped))
    events = [("service.down", f"zerodown down: {said}")]
    events += [("host.unreachable", f"host {host} did not answer; its instances were left "
                f"as they are: {why}") for host, why in sorted(silent.items())]
    if lb.silent:
        events.append(("host.unreachable", lb.silent_text()))
    # rows on a silent host stay as they are: the next down, up or deploy finds them
    store.set_instances(service, [Change(ref, "stopped") for ref in rows if ref not in left],
                        events)
    if owned:  # a service taken down leaves no owner where it was taken down
        _release_owner(runtime, hosts_to_ask(runtime.names, recorded), silent)
    if silent or lb.silent:
        for host, why in sorted(silent.items()):
            names = sorted(r.name(service) for r, row in left.items()
                           if row.host(hosts) == host)
            owner = "; this controller is still recorded as the service's owner there" \
                if owned else ""
            left_there = (f"left on it, still recorded: {', '.join(names)}" if names else
                          "nothing of the service was recorded running there")
            print(f"zerodown down: host {host} did not answer ({why}); {left_there}{owner}",
                  file=sys.stderr)
        if lb.silent:
            print(f"zerodown down: {lb.silent_text()}", file=sys.stderr)
        waiting = sorted(set(silent) | ({cfg.router.host} if lb.silent and cfg.router.host
                                        else set()))
        print(f"{service} is partly down: {said}, and the controller; "
              f"`zerodown down` again once {', '.join(waiting)} answer"
              f"{'s' if len(waiting) == 1 else ''}", file=sys.stderr)
        return 1
    print(f"{service} is down: {said}, and the controller "
          "(`zerodown up` starts them again)")
    return 0


def _down_says(lb: str | None, stopped: int) -> str:
    """What down did: "stopped the proxy and 2 instances", "the proxy was not running;
    stopped 0 instances" (it said "stopped the proxy and 0 instances stopped" of a service
    an `up` had failed to start); `lb` None: the load balancer's host did not answer."""
    count = f"{stopped} instance{'s' if stopped != 1 else ''}"
    if lb is None:
        return f"stopped {count}"
    return f"{lb} and {count}" if lb.startswith("stopped ") else f"{lb}; stopped {count}"


def _release_owner(runtime, acted_on: list[str], silent: dict) -> None:
    """This controller's record as the service's owner removed from every host down acted
    on (`acted_on`: runtime.hosts, and those off the list it asked for recorded instances)
    that answered (a silent one keeps it, named: the next down there releases it)."""
    failed = runtime.release_owner([h for h in acted_on if h not in silent])
    for host, why in sorted(failed.items()):
        if isinstance(why, OwnerUnreadable):  # whose it is, nobody can tell: not ours to remove
            print(f"zerodown down: host {host}: {why.said}", file=sys.stderr)
        else:
            print(f"zerodown down: host {host}: this controller is still recorded as the "
                  f"service's owner there ({why}); the next `zerodown down` removes it",
                  file=sys.stderr)


class _RouterStop:
    """`down`'s load balancer: stopped unless its host (router.host) does not answer, then
    left as it is and named (the same rule as an instance host's: model.silent_host)."""

    def __init__(self, ctl: Controller, cfg: ServiceConfig):
        self.host, self.silent, self.router = cfg.router.host, None, None
        try:
            self.router = ctl.router(cfg)
        except HostFailure as e:  # building it on router.host asks that host already
            self.silent = str(e)

    def stop(self) -> None:
        if self.silent is None and self.router is not None and hasattr(self.router, "stop"):
            try:
                self.router.stop()
            except HostFailure as e:
                self.silent = str(e)

    def says(self) -> str:
        return getattr(self.router, "down_says", "stopped the proxy")  # attach modes say theirs

    def silent_text(self) -> str:
        return (f"router host {self.host} did not answer ({self.silent}); its load balancer "
                f"was left as it is (still serving whatever reaches it)")
