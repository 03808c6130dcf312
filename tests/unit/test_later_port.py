"""The ssh runtime starts an instance in one round trip by rendering {port} as a mark the
host fills with the port it claims (runtimes/release.py render_later_port): the result
must equal render() with that port, and anything else than a plain {port} takes the
two-step start (None), never a wrong command."""

from __future__ import annotations

import pytest

from zerodown.config import AppConfig
from zerodown.hosts.instances import PORT
from zerodown.model import Revision, Slot
from zerodown.runtimes import release


def revision(command, **kw) -> Revision:
    return Revision("shop", 3, "v3", AppConfig(command=command, **kw), None)


def filled(app: AppConfig, port: int) -> AppConfig:
    fill = lambda s: None if s is None else s.replace(PORT, str(port))  # noqa: E731
    return AppConfig(command=tuple(fill(a) for a in app.command), cwd=fill(app.cwd),
                     env={k: fill(v) for k, v in app.env.items()}, env_file=app.env_file,
                     release=fill(app.release))


@pytest.mark.parametrize("rev", [
    revision(("app", "--port={port}", "--bind={host}:{port!s}", "{{port}}", "{instance}")),
    revision(("app",), cwd="/srv/{version}/{port}", env={"PORT": "{port}", "R": "{port!r}"},
             env_file="releases/{version}/.env", release="releases/{version}"),
    revision(("app", "--no-port")),
])
def test_the_later_port_filled_on_the_host_is_what_render_gives(rev):
    later = release.render_later_port(rev, Slot(1), "shop-r3-s1", "10.9.0.2")
    assert later is not None
    assert filled(later, 40123) == release.render(rev, Slot(1), "shop-r3-s1", 40123, "10.9.0.2")


@pytest.mark.parametrize("rev", [
    revision(("app", "--port={port:05d}")),        # a format spec: only the host's int has it
    revision(("app", "--port={port.real}")),       # an attribute
    revision(("app", "{nope}")),                   # an error: the two-step start reports it
    revision(("app",), env_file="envs/{port}.env"),  # read here, before the port is known
])
def test_anything_but_a_plain_port_takes_the_two_step_start(rev):
    assert release.render_later_port(rev, Slot(1), "shop-r3-s1", "10.9.0.2") is None
