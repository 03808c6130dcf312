"""One host is one host: a host runtime.hosts names otherwise than the store recorded it
(app1 listed again as deploy@app1, an ssh_config alias written as its address) is the same
user, address and port after ssh_config (hosts/ssh_connect.identity), so adopt asks it
once, under the listed name, and the engine records its rows under that name before it
plans (engine/unlisted.renamed). Else it was asked twice (as listed, and as unlisted by
its recorded name), planned as two hosts, and the host recorded after a reconcile
depended on which answer came last."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.test_adopt_prefetch import Host
from tests.unit.test_unlisted_hosts import Placed, config
from tests.support.engine_world import World
from zerodown.config import parse_config
from zerodown.engine.lifecycle import Phase
from zerodown.hosts.ssh_connect import identity
from zerodown.plan import step_hosts
from zerodown.runtimes import ssh
from zerodown.runtimes.ssh_options import SshOptions, parse_host

SSH_CONFIG = """\
Host app1
  HostName 10.0.0.11
  User deploy
Host edge
  HostName 10.0.0.12
  Port 2222
"""


@pytest.mark.parametrize("a, b, same", [
    ("app1", "deploy@app1", True),            # the User ssh_config gives it
    ("app1", "deploy@10.0.0.11", True),       # an alias and its HostName
    ("app1", "deploy@10.0.0.11:22", True),
    ("app1", "root@app1", False),             # another user: another account
    ("app1", "10.0.0.11", False),             # (the address alone: this machine's user)
    ("edge", "10.0.0.12:2222", True),
    ("edge", "10.0.0.12", False),             # another port: another sshd
    ("APP2", "app2", True),                   # DNS names are case-insensitive
    ("app2", "app3", False),
])
def test_two_names_are_one_host_when_they_reach_the_same_user_address_and_port(
        tmp_path, monkeypatch, a, b, same):
    monkeypatch.setattr("getpass.getuser", lambda: "root")
    (tmp_path / "ssh_config").write_text(SSH_CONFIG)
    opts = SshOptions(ssh_config="ssh_config")
    assert (identity(parse_host(a), opts, str(tmp_path))
            == identity(parse_host(b), opts, str(tmp_path))) is same


YAML = """\
service: shop
listen: 127.0.0.1:18080
instances: 2
app: {command: [app, --port, "{port}"]}
runtime: {kind: ssh, hosts: [deploy@zdf1, zdf2], ssh_config: ssh_config}
"""


def test_adopt_asks_a_renamed_host_once_under_its_listed_name(tmp_path):
    """zdf1's rows recorded as `zdf1`, the list now says deploy@zdf1 (ssh_config's User for
    zdf1 is deploy): asked once, as deploy@zdf1, its instance found there; silent, both
    names are (the rows recorded as zdf1 are left as they are, not taken for gone)."""
    (tmp_path / "ssh_config").write_text("Host zdf1\n  User deploy\n")
    rt = ssh.SshRuntime(tmp_path / "state",
                        parse_config(YAML, file=str(tmp_path / "zerodown.yaml")))
    rt.hosts = {"deploy@zdf1": Host("zdf1", 0), "zdf2": Host("zdf2", 1),
                "zdf1": Host("zdf1", 0)}     # asked by its recorded name, it would answer
    found = rt.adopt("shop", ["zdf1", "zdf2"])
    assert {n: h.calls for n, h in rt.hosts.items()} == {
        "deploy@zdf1": ["adopt"], "zdf2": ["adopt"], "zdf1": []}
    assert sorted(i.runs_on for i in found) == ["deploy@zdf1", "zdf2"]
    assert rt.listed_as("zdf1") == "deploy@zdf1" and rt.listed_as("zdf3") is None
    recorded = dataclasses.replace(found[0], runs_on="zdf1")   # a row not rewritten yet:
    assert rt.host_running(recorded) == "deploy@zdf1"          # acted on as the listed host

    def silent(*args, **kwargs):
        raise ssh.HostFailure("host deploy@zdf1 did not answer", "deploy@zdf1")
    rt.hosts["deploy@zdf1"].owned = silent
    assert set(rt.adopt("shop", ["zdf1"]).unreachable) == {"deploy@zdf1", "zdf1"}


RENAMED = ("deploy@app1", "app2", "app3")


class Renamed(Placed):
    """Placed, where app1 is also deploy@app1 (what SshRuntime.listed_as finds)."""

    def listed_as(self, name):
        return "deploy@app1" if name == "app1" else name if name in self.listed else None


def test_the_rows_of_a_renamed_host_are_recorded_under_its_listed_name_before_a_plan(
        tmp_path):
    world = World(tmp_path)
    world.runtime = Renamed(healthy_after=2, faults=world.faults, journal=world.journal)
    e = world.engine(config(("app1", "app2", "app3")))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    world.runtime.listed = RENAMED   # the same machine under its new name
    world.runtime.on = {i: "deploy@app1" if h == "app1" else h
                        for i, h in world.runtime.on.items()}
    e = world.engine(config(RENAMED))
    d = e.deploy("v2")
    assert world.runtime.checked[-1] == ()   # no "unlisted" app1 pre-flighted
    (event,) = e.store.events("shop", kind="host.renamed")
    assert event.data == {"host": "app1", "listed": "deploy@app1"}
    recorded = e.store.service_state("shop").runs_on
    named = {h for s in e.store.deployment(d).steps for h in step_hosts(s, RENAMED, recorded)}
    assert named == set(RENAMED)   # no batch "on app1 (not listed)"
    assert e.run(d) is Phase.SUCCEEDED
    assert world.runtime.asked[-1] == list(RENAMED)   # asked once, as listed
    assert world.runtime.running("shop") == set(world.router.table.backends())
    assert {r.runs_on for r in e.store.instances("shop", live=True).values()} == set(RENAMED)


def test_a_plan_is_made_from_the_rows_as_the_deployment_records_them_and_writes_nothing(
        tmp_path):
    """`zerodown plan` (engine/unlisted.as_renamed of renames: what `renamed` records
    first) plans what the deployment then plans: no batch "on app1 (not listed)"."""
    from zerodown.engine.unlisted import as_renamed, renames
    from zerodown.strategies import plan_for, target_for
    world = World(tmp_path)
    world.runtime = Renamed(healthy_after=2, faults=world.faults, journal=world.journal)
    e = world.engine(config(("app1", "app2", "app3")))
    assert e.run(e.deploy("v1")) is Phase.SUCCEEDED
    world.runtime.listed = RENAMED
    cfg = config(RENAMED)
    e = world.engine(cfg)
    stored = e.store.service_state("shop")
    state = as_renamed(stored, renames(e.store, "shop", world.runtime.listed_as, RENAMED))
    assert set(stored.runs_on.values()) == {"app1", "app2", "app3"}   # as recorded still
    assert set(state.runs_on.values()) == set(RENAMED)
    assert e.store.events("shop", kind="host.renamed") == []   # the plan wrote nothing
    plan = plan_for(cfg.strategy, state, target_for(cfg, 2), cfg.hooks.moments(),
                    allow_downtime=True)
    assert "not listed" not in plan.describe()
    as_stored = plan_for(cfg.strategy, stored, target_for(cfg, 2), cfg.hooks.moments(),
                         allow_downtime=True)   # (what `plan` showed before)
    assert "app1 (not listed)" in as_stored.describe()
    d = e.deploy("v2")
    assert e.store.deployment(d).steps == plan.steps
    assert as_renamed(stored, {}) is stored
