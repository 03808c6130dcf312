"""Uploading a version's release folder to every host of an ssh runtime, before anything
changes (SshRuntime.check_release runs this before a deployment takes a revision number).

    check_and_upload(runtime, "v7", app)   # every host ready and with
                                           # <state_dir>/releases/<service>/v7, or RuntimeFailure

Per host, in parallel: the host compares the manifest (path -> sha256, mode) with what
it has (zerodown/hosts/releases.py), copies files an earlier release has, and names the
rest; only those are sent (a tar.gz on the channel's stdin, made once for the hosts
lacking the same files and read as it is made: hosts/tar_stream.py,
hosts/shared_upload.py), then checked and renamed
into place. A version already complete on a host costs one round trip. With
app.shared_dirs / app.shared_files, the pre-flight refuses a host lacking a shared file,
and each release gets its links to <state_dir>/shared/<service> as it is committed
(hosts/shared_paths.py). A before_start hook with `per_host: true` runs there once per
version, in that folder (run_on_hosts).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from dataclasses import replace
from typing import Callable, Collection

from zerodown.errors import HostFailure, OwnerUnreadable, RuntimeFailure
from zerodown.hooks import SUMMARY_LINES, HookContext, HookResult
from zerodown.hooks_model import HookSpec
from zerodown.hosts import shared_paths
from zerodown.hosts.ssh_connect import HostUnreachable
from zerodown.hosts.local import KILL_WAIT
from zerodown.hosts.preflight import (CHECK_TIMEOUT, HostReport, judged, preflight,
                                      refuse_unless_ready)
from zerodown.hosts.progress_send import mb
from zerodown.hosts.releases import manifest_of
from zerodown.hosts.shared_upload import SharedUploads
from zerodown.hosts.tar_stream import TarStream
from zerodown.owner import judged as judged_owner, unrecorded
from zerodown.runtimes import ssh_owner


def local_folder(runtime, version: str, app) -> str | None:
    if app.release is None:
        return None
    from zerodown.runtimes.release import resolve
    return resolve(runtime.config, app.release.format(version=version))


def remote_folder(runtime, version: str) -> str:
    return f"{runtime.release_base}/{version}"


def shared_of(runtime, app) -> dict | None:
    """app.shared_dirs and app.shared_files as the hosts take them (hosts/shared_paths.py)."""
    return shared_paths.spec(runtime.options.state_dir, runtime.config.service, app)


def check_and_upload(runtime, version: str, app, keep: frozenset[str] = frozenset(),
                     unlisted: Collection[str] = ()) -> None:
    """Every host's pre-flight, then release `version` on every host (upload): a host not
    ready (or lacking a shared file: app.shared_files) refuses the deployment
    (RuntimeFailure naming it) before any release is put in place or pruned anywhere.
    Where every host's agent answers already (a deployment after the first), a host's
    pre-flight, its adopt (for the deployment's: SshRuntime.prefetched) and the release's
    preparation are one round trip (the agent's batch: nothing after a pre-flight that
    found a problem); what the preparation stages
    (<version>.partial) is renamed into place only once every host is ready. Otherwise
    the pre-flight asks every host first (a shell where no agent is yet). `unlisted`:
    hosts runtime.hosts no longer lists that the plan acts on (it stops or waits on
    instances recorded there): pre-flighted beside the others, in the same refusal; no
    release is sent there (nothing starts there). So is router.host when it is not one of
    runtime.hosts (one of them: its round trip is the pre-flight's already).

    The service's owner on each host of runtime.hosts (hosts/owner.py) is asked in the
    same round trip, and on each of `unlisted` with its pre-flight: another controller's
    refuses the deployment there (it would stop that one's instances there). Where nobody is
    recorded yet (a first deployment), this controller is recorded by a round trip of its
    own once every host is ready: a refused first deployment leaves no claim on the hosts
    that were ready (another controller could not deploy there then)."""
    folder, shared = _folder_of(runtime, version, app), shared_of(runtime, app)
    others = [runtime.host_named(n).name for n in beside(runtime, unlisted)]
    off = [n for n in unlisted if n not in runtime.names]  # the owner is read there too
    state_dir = runtime.options.state_dir
    if not all(runtime.hosts[n].installed for n in runtime.names):
        # named, never "every host the connections know": that grows with each host
        # host_named was asked about since (router.host, a host long gone from the list)
        reports = preflight(runtime.connections, state_dir, runtime.hosts, shared,
                            [*runtime.names, *others], runtime.remote_dir, off)
        refuse_unless_ready(_judged(runtime, reports))
        _claim(runtime, reports)
        upload(runtime, version, app, keep)
        return
    manifest = manifest_of(folder) if folder is not None else None
    checking = runtime.every_host.submit(
        preflight, runtime.connections, state_dir, runtime.hosts, None, others,
        runtime.remote_dir, off) if others else None
    asked = list(runtime.every_host.map(
        lambda n: _ready_and_prepared(runtime, n, version, manifest, shared), runtime.names))
    refuse_unless_ready([report for report, *_ in asked] +
                        (_judged(runtime, checking.result()) if checking is not None else []))
    _claim(runtime, [report for report, *_ in asked])
    prepared = {n: got for n, (_, got, _) in zip(runtime.names, asked)}
    runtime.prefetched({n: adopted for n, (_, _, adopted) in zip(runtime.names, asked)
                        if adopted is not None})
    if folder is None or manifest is None:  # no app.release: nothing to send
        return
    _each_host(runtime, version, lambda n, uploads: _upload_to(
        runtime, n, uploads, folder, version, manifest, keep, shared, prepared[n]))


def _judged(runtime, reports: list[HostReport]) -> list[HostReport]:
    """Each report with the owner read there judged: another controller's is its problem."""
    return [judged_owner(r, runtime.me, runtime.config.service) for r in reports]


def _claim(runtime, reports: list[HostReport]) -> None:
    """This controller recorded as the service's owner where the pre-flight found nobody
    (or this one, from a folder since moved): after every host was found ready, a round
    trip of its own only then (a first deployment; none after it). Only on runtime.hosts:
    a host off the list is only checked (nothing starts there: a record made there would
    outlive the instances stopped there, and no `down` would let go of it)."""
    ssh_owner.claim(runtime, [r.host for r in reports
                              if r.host in runtime.names and unrecorded(r, runtime.me)])


def beside(runtime, unlisted: Collection[str]) -> list[str]:
    """The hosts a deployment's pre-flight asks besides runtime.hosts: those no longer
    listed that its plan acts on, and router.host, where the load balancer that routes
    to its instances runs (cut off, the deployment could not route to what it starts)."""
    lb = runtime.config.router.host
    return list(dict.fromkeys(n for n in [*unlisted, *([lb] if lb else [])]
                              if n not in runtime.names))


def _ready_and_prepared(runtime, name: str, version: str, manifest: dict | None,
                        shared: dict | None) -> tuple[HostReport, dict | None, list | None]:
    """(the host's pre-flight report, its release_prepare answer, its adopt answer: None
    when not asked). The service's owner there is read, and the report names the
    controller that owns it if it is another (and nothing after it runs there:
    hosts/owner.py); nothing is recorded here (check_and_upload's _claim); the adopt rides along for the deployment's own (SshRuntime.adopt);
    `manifest` None: no release to prepare (no app.release)."""
    host, state_dir = runtime.hosts[name], runtime.options.state_dir
    prepare = [] if manifest is None else [
        ["release_prepare", [runtime.release_base, version, manifest, shared]]]
    checks = [["preflight", [state_dir, shared], ["problem", "unshared"]],
              ["owner", [runtime.remote_dir, runtime.me.record(), "check"], ["other"]]]
    try:
        got = host.call("batch", [*checks,
                                  ["owned", [runtime.remote_dir, runtime.me.id, "table",
                                             ["adopt", runtime.config.service]]],
                                  *prepare], timeout=CHECK_TIMEOUT)
    except HostUnreachable as e:  # as the pre-flight's connect names it
        return HostReport(name, str(e)), None, None
    except HostFailure as e:
        return HostReport(name, f"no answer to the check ({e})"), None, None
    except OwnerUnreadable as e:  # it answered: the record is the problem
        return HostReport(name, e.said), None, None
    except RuntimeFailure:  # the preparation failed: the pre-flight alone; the upload,
        try:  # which asks for the preparation again, says why
            got = host.call("batch", checks, timeout=CHECK_TIMEOUT)
        except OwnerUnreadable as e:
            return HostReport(name, e.said), None, None
        except RuntimeFailure as e:
            return HostReport(name, f"no answer to the check ({e})"), None, None
    report = judged(name, got[0]["problem"], got[0]["free_mb"], got[0]["unshared"], shared)
    if len(got) > 1:  # (not ready: not asked)
        report = judged_owner(replace(report, owner=got[1]["owner"], owner_read=True),
                              runtime.me, runtime.config.service)
    return report, (got[3] if len(got) > 3 else None), (got[2] if len(got) > 2 else None)


def upload(runtime, version: str, app, keep: frozenset[str] = frozenset()) -> None:
    """Every host has release `version`, or RuntimeFailure naming the hosts that do not;
    pruning there keeps the versions in `keep` (the rollback target) and those running."""
    folder = _folder_of(runtime, version, app)
    if folder is None:
        return
    manifest, shared = manifest_of(folder), shared_of(runtime, app)
    _each_host(runtime, version, lambda n, uploads: _upload_to(
        runtime, n, uploads, folder, version, manifest, keep, shared))


def _folder_of(runtime, version: str, app) -> str | None:
    folder = local_folder(runtime, version, app)
    if folder is not None and not os.path.isdir(folder):
        raise RuntimeFailure(f"version {version}: release folder {folder} does not exist "
                             f"(app.release {app.release!r})")
    return folder


def _each_host(runtime, version: str,
               upload_to: Callable[[str, SharedUploads], None]) -> None:
    """`upload_to` every host at once, the hosts lacking the same files sharing one
    compressed copy of them (hosts/shared_upload.py, in the controller's state folder);
    RuntimeFailure naming those it failed on."""
    def one(host_name: str) -> str | None:
        try:
            upload_to(host_name, uploads)
            return None
        except RuntimeFailure as e:  # its line starts with the host: not named twice
            return str(e).removeprefix(f"host {host_name}: ")
    with SharedUploads(str(runtime.local_state)) as uploads:
        whys = list(runtime.every_host.map(one, runtime.names))
    failed = [(n, why) for n, why in zip(runtime.names, whys) if why]
    if failed:
        raise RuntimeFailure(f"release {version} could not be uploaded, nothing was changed:\n"
                             + "\n".join(f"  {n}: {why}" for n, why in failed))


def _upload_to(runtime, host_name: str, uploads: SharedUploads, folder: str, version: str,
               manifest: dict, keep: frozenset[str], shared: dict | None,
               prepared: dict | None = None) -> None:
    """`prepared`: the host's release_prepare answer, when it was asked already."""
    host = runtime.hosts[host_name]
    base = runtime.release_base
    got = prepared or host.call("release_prepare", base, version, manifest, shared)
    if got["done"]:
        return
    if got["missing"]:
        # made once for the hosts lacking the same files, read as it is made: the
        # controller's memory does not grow with the release; bounded by progress, not as
        # a whole: a big release on a slow link takes as long as it takes, a host that
        # stops taking bytes fails at command_timeout
        done = runtime.connections.send(host_name, _send_command(base, version),
                                        uploads.reader(_tar(folder, got["missing"])),
                                        stall=runtime.options.command_timeout)
        if not done.ok:
            raise RuntimeFailure(_send_failure(done, folder, got["missing"], version))
    host.owned(runtime.remote_dir, runtime.me.id, "release_commit", base, version, manifest,
               runtime.options.keep_releases, sorted(keep), shared)


FREE = "zerodown-free-kB "  # the send's last line when the unpacking failed: room left there


def _send_command(base: str, version: str) -> str:
    """Unpack the files sent into the version's partial folder. When that fails (its disk
    full), the folder goes, and the room left there is said: the folder kept the space,
    and a later, smaller version was refused for want of it too."""
    partial, where = shlex.quote(f"{base}/{version}.partial"), shlex.quote(base)
    return (f"tar -xz -C {partial} || {{ s=$?; rm -rf {partial}; "
            f"printf '{FREE}%s\\n' \"$(df -Pk {where} | awk 'NR==2 {{print $4}}')\" >&2; "
            f"exit $s; }}")


def _send_failure(done, folder: str, paths: list[str], version: str) -> str:
    """What a failed send says: tar's own words (`Wrote only 5632 of 10240 bytes` for a
    disk full), and the room left there beside what the files take, when it is known."""
    said, _, free = done.stderr.partition(FREE)
    count = len(paths)
    what = (f"sending {count} file{'s' if count > 1 else ''} of release {version} failed: "
            f"{said.strip()[-300:] or done.status}")
    if not free.strip().isdigit():  # no answer (unknown outcome): the folder may be there
        return what
    need = sum(os.path.getsize(os.path.join(folder, p)) for p in paths)
    return (what + f" ({mb(int(free) * 1024)} free there, the files sent take "
            f"{mb(need)}; what arrived was removed)")


def _tar(folder: str, paths: list[str]) -> TarStream:
    """What a host is sent, before it is shared (a seam: tests/fleet/test_releases.py
    records the paths)."""
    return TarStream(folder, paths)


def run_on_hosts(runtime, spec: HookSpec, ctx: HookContext) -> list[HookResult]:
    """A before_start hook with `per_host: true`: on every host at once, in the release folder of
    ctx.version there (spec.cwd relative to it), unless it passed there before for this
    version (a marker keyed by the hook's command, cwd and env). One result per host, in
    host order, its summary and output lines prefixed by the host."""
    argv = ["/bin/sh", "-c", spec.command] if isinstance(spec.command, str) \
        else list(spec.command or ())
    key = hashlib.sha256(json.dumps([argv, spec.cwd, spec.env], sort_keys=True)
                         .encode()).hexdigest()[:16]
    folder = remote_folder(runtime, ctx.version)
    env = {**spec.env, **ctx.environment()}
    wait = spec.timeout + KILL_WAIT + runtime.options.command_timeout

    def one(name: str) -> HookResult:
        started = time.monotonic()
        try:
            got = runtime.hosts[name].call("release_prepare_hook", folder, key, argv,
                                           spec.cwd or ".", env, spec.timeout, timeout=wait)
        except RuntimeFailure as e:  # no answer, or no release: unknown is a failure
            return HookResult(False, time.monotonic() - started,
                              f"{name}: {spec.label} failed: {e}", spec.label)
        return _host_result(name, spec, ctx.version, got)
    return list(runtime.every_host.map(one, runtime.names))


def _host_result(name: str, spec: HookSpec, version: str, got: dict) -> HookResult:
    if not got["ran"]:
        return HookResult(True, 0.0, f"{name}: {spec.label} passed here before for {version} "
                                     f"(not run again)", spec.label)
    if got["code"] is None:
        what = f"timed out after {spec.timeout:g}s (its process group was killed)"
    else:
        what = f"exited {got['code']} after {got['seconds']:.2f}s"
    lines = got["output"].strip().splitlines()[-SUMMARY_LINES:]
    summary = f"{name}: {spec.label} {what}" + "".join(f"\n{name}| {line}" for line in lines)
    return HookResult(got["ok"], got["seconds"], summary, spec.label, got["output"])
