"""The owner of an ssh runtime's service on its hosts (zerodown/hosts/owner.py), asked of
every host at once: what `down`, `exec`, a daemon's start and `zerodown hosts` ask. A
deployment's claim rides in its pre-flight batch instead (runtimes/ssh_release.py).

    check(runtime)            # RuntimeFailure naming each host another controller owns
    take_over(runtime)        # {host: the owner replaced (None: nobody) or the failure}

Besides runtime.hosts, a host the list no longer has where the service's instances are
recorded (`unlisted`: engine/unlisted.off_list) is asked too: `down` and a deployment stop
them there, so the record there is checked, taken over and let go of as a listed host's.
"""

from __future__ import annotations

from typing import Sequence

from zerodown.errors import OwnerUnreadable, RuntimeFailure
from zerodown.owner import identity, refuse_others


def ask(runtime, mode: str, names: Sequence[str] | None = None) -> dict:
    """{host: the owner op's answer, or the RuntimeFailure (HostFailure) it raised}."""
    names = list(runtime.names if names is None else names)
    # a check writes nothing, here either: a folder with no id yet is nobody's controller
    me = (runtime.me if mode != "check" else identity(runtime.local_state, make=False)).record()

    def one(name: str):
        try:  # (host_named: a host no longer listed is reached by its name)
            return runtime.host_named(name).call("owner", runtime.remote_dir, me, mode,
                                                 timeout=runtime.options.command_timeout)
        except RuntimeFailure as e:
            return e
    return dict(zip(names, runtime.every_host.map(one, names)))


def check(runtime, names: Sequence[str] | None = None, unlisted: Sequence[str] = ()) -> None:
    """Refused (RuntimeFailure, nothing changed) where another controller owns the service
    or its owner record cannot be read (as a deployment's pre-flight is); a host that does
    not answer is left to the command's own rule for it. `unlisted`: hosts runtime.hosts
    no longer lists that the command acts on (down: instances recorded there)."""
    # the owner is recorded where instances run: runtime.hosts, and a host off the list
    # that still holds some; never router.host alone (it holds no instance)
    answers = ask(runtime, "check", [n for n in names or runtime.names if n in runtime.names]
                  + [n for n in unlisted if n not in runtime.names])
    # an unreadable record is the host's answer (refused), a failure its silence (left)
    refuse_others(runtime.config.service, {
        h: a for h, a in answers.items()
        if isinstance(a, OwnerUnreadable) or not isinstance(a, RuntimeFailure)})


def claim(runtime, names: Sequence[str]) -> None:
    """A deployment's claim where the pre-flight read the owner by a shell (no agent was
    known to be there) and found it to record (owner.unrecorded: a first deployment):
    refused naming each host that did not answer or that another controller owns (one
    that claimed it since the read); the hosts this call recorded are then let go (a
    refused deployment changes nothing; two controllers racing are not left split)."""
    if not names:
        return
    answers = ask(runtime, "claim", names)
    failed = {h: a for h, a in answers.items() if isinstance(a, RuntimeFailure)}
    if failed or any(a.get("other") for h, a in answers.items() if h not in failed):
        release(runtime, [h for h, a in answers.items() if h not in failed and a.get("new")])
    if failed:
        raise RuntimeFailure("the fleet is not ready, nothing was changed:\n" + "\n".join(
            f"  {h}: {e.said}" if isinstance(e, OwnerUnreadable) else
            f"  {h}: no answer to the owner's check ({e})" for h, e in failed.items()))
    refuse_others(runtime.config.service, answers)


def release(runtime, names: Sequence[str]) -> dict:
    """`down`: no owner left behind where it answered; {host: failure} where not."""
    return {h: a for h, a in ask(runtime, "release", names).items()
            if isinstance(a, RuntimeFailure)}


def take_over(runtime, unlisted: Sequence[str] = ()) -> dict:
    """This controller recorded as the owner on every host, and on `unlisted` (hosts the
    list no longer has where its deployment may act: runtimes/ssh_release.py `beside`):
    {host: the owner it replaced (None: nobody, or this one already) or the RuntimeFailure}."""
    names = [*runtime.names, *(n for n in unlisted if n not in runtime.names)]
    return {h: a if isinstance(a, RuntimeFailure) else a.get("was")
            for h, a in ask(runtime, "take", names).items()}


def look(runtime) -> dict:
    """{host: its owner record, None, or the failure}: `zerodown hosts`' OWNER column."""
    return {h: a if isinstance(a, RuntimeFailure) else a["owner"]
            for h, a in ask(runtime, "look").items()}
