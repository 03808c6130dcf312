"""One controller per service on a fleet host: the owner file there (zerodown/hosts/owner.py,
run by the agent, here on a temp folder), this controller's identity and what is said of
another (zerodown/owner.py), and the pre-flight batch's report of a host another controller
owns (runtimes/ssh_release.py). The fleet version: tests/fleet/test_two_controllers.py."""

from __future__ import annotations

import json

import pytest

from tests.unit.test_host_running import YAML as HOST_RUNNING_YAML
from zerodown import owner as said
from zerodown.config import parse_config
from zerodown.errors import HostFailure, OwnerUnreadable, RuntimeFailure
from zerodown.hosts import agent
from zerodown.hosts.files import batch
from zerodown.hosts.owner import FILE, Unreadable, owner
from zerodown.runtimes import ssh, ssh_release

A = {"id": "a" * 32, "where": "ana@laptop:/home/ana/shop/.zerodown"}
B = {"id": "b" * 32, "where": "root@ci:/srv/shop/.zerodown"}


def test_the_first_claim_records_its_controller_and_a_second_is_told_whose_it_is(tmp_path):
    d = str(tmp_path / "services" / "shop")
    first = owner(d, A, "claim")
    assert first["owner"]["id"] == A["id"] and "other" not in first and first["new"]
    assert json.loads((tmp_path / "services" / "shop" / FILE).read_text()) == first["owner"]
    assert owner(d, A, "claim") == {"owner": first["owner"]}   # again: the same, kept
    refused = owner(d, B, "claim")
    assert refused["other"] == first["owner"]
    assert owner(d, B, "check")["other"] == first["owner"]
    assert "other" not in owner(d, A, "check")
    assert owner(d, None, "look") == {"owner": first["owner"]}  # B recorded nowhere


def test_take_replaces_the_owner_and_says_whom_and_release_removes_only_its_own(tmp_path):
    d = str(tmp_path)
    was = owner(d, A, "claim")["owner"]
    taken = owner(d, B, "take")
    assert taken["was"] == was and taken["owner"]["id"] == B["id"]
    assert owner(d, A, "claim")["other"]["id"] == B["id"]      # A is now refused
    assert owner(d, A, "release") == {"owner": taken["owner"]}  # not A's: left
    assert owner(d, B, "release") == {"owner": None}
    assert owner(d, None, "look") == {"owner": None}
    assert owner(d, A, "claim")["owner"]["id"] == A["id"]      # free again: claimed


def test_a_take_over_replaces_an_unreadable_record_the_others_name_its_file(tmp_path):
    """The shell's pre-flight refuses an unreadable record as another controller's, naming
    `--take-over` as the way out: that way works (it failed on the record it replaces)."""
    (tmp_path / FILE).write_text("garbage\n")
    for mode in ("claim", "check", "release"):
        with pytest.raises(Unreadable, match=f"cannot be read: {tmp_path / FILE} "):
            owner(str(tmp_path), A, mode)
    taken = owner(str(tmp_path), A, "take")
    assert taken["owner"]["id"] == A["id"] and "unreadable" in taken["was"]["where"]
    assert owner(str(tmp_path), A, "check") == {"owner": taken["owner"]}


def test_each_service_on_a_host_has_its_own_owner(tmp_path):
    assert owner(str(tmp_path / "services" / "shop"), A, "claim")["owner"]["id"] == A["id"]
    assert owner(str(tmp_path / "services" / "cart"), B, "claim")["owner"]["id"] == B["id"]
    assert "other" not in owner(str(tmp_path / "services" / "shop"), A, "check")


def test_an_identity_made_by_many_threads_at_once_is_one(tmp_path):
    """A daemon's pre-flight asks every host at once, each thread wanting the id: each had
    made and written its own, and the hosts were claimed by several (seen on the fleet:
    the same controller refused by its own record on one host)."""
    from concurrent.futures import ThreadPoolExecutor
    for round in range(20):
        folder = tmp_path / f"state{round}"
        with ThreadPoolExecutor(8) as pool:
            ids = set(pool.map(lambda _: said.identity(folder).id, range(8)))
        assert len(ids) == 1 and ids == {said.identity(folder).id}
        assert [p.name for p in folder.iterdir()] == [said.ID_FILE]  # no temp file left


def test_a_look_makes_no_identity(tmp_path):
    assert said.identity(tmp_path / "state", make=False).id == ""
    assert not (tmp_path / "state").exists()


def test_a_moved_state_folder_keeps_its_ownership_and_since(tmp_path):
    first = owner(str(tmp_path), A, "claim")["owner"]
    moved = owner(str(tmp_path), {**A, "where": "ana@laptop:/new/.zerodown"}, "claim")["owner"]
    assert moved["where"] == "ana@laptop:/new/.zerodown" and moved["since"] == first["since"]


@pytest.mark.parametrize("text", ["{", "[]", '{"where": "x"}'])
def test_a_damaged_owner_file_is_named_not_taken_for_nobody(tmp_path, text):
    (tmp_path / FILE).write_text(text)
    with pytest.raises(Unreadable, match=f"{FILE} .*`{said.TAKE_OVER}` replaces it"):
        owner(str(tmp_path), A, "claim")
    assert agent.answer(json.dumps({"op": "owner", "args": [str(tmp_path), A, "check"]}))[
        "kind"] == "owner_unreadable"


def test_an_unknown_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no owner mode 'grab'"):
        owner(str(tmp_path), A, "grab")


def test_the_identity_is_made_once_and_kept_where_is_worked_out(tmp_path):
    me = said.identity(tmp_path / "state")
    assert said.identity(tmp_path / "state") == me and len(me.id) == 32
    assert me.where.endswith(f":{tmp_path / 'state'}") and "@" in me.where
    assert said.identity(tmp_path / "other").id != me.id
    (tmp_path / "state" / said.ID_FILE).write_text("not json")
    with pytest.raises(RuntimeFailure, match=said.ID_FILE):
        said.identity(tmp_path / "state")


def test_what_is_said_of_another_controller():
    them = {**A, "since": 1796417060.0}
    assert said.describe(them) == ("ana@laptop:/home/ana/shop/.zerodown (controller aaaaaaaa, "
                                   "since 2026-12-04 20:44 UTC)")
    text = said.refusal(them, "shop")
    assert "another controller: ana@laptop" in text and said.TAKE_OVER in text
    with pytest.raises(RuntimeFailure) as e:
        said.refuse_others("shop", {"zdf1": {"owner": them, "other": them},
                                    "zdf2": {"owner": None}, "zdf3": None})
    assert "nothing was changed" in str(e.value) and "  zdf1: shop here" in str(e.value)
    assert "zdf2" not in str(e.value)
    said.refuse_others("shop", {"zdf1": {"owner": A}})  # its own: no refusal


def test_the_owner_column():
    me = said.Identity(A["id"], A["where"])
    assert said.owner_cell(None, me) == "none"
    assert said.owner_cell(A, me) == "this controller"
    assert said.owner_cell({**B, "since": 0}, me).startswith("root@ci:/srv/shop/.zerodown")
    assert said.parse_owner("", "/s/owner.json") is None
    assert said.parse_owner(json.dumps(B), "/s/owner.json") == B
    assert "unreadable owner record (/s/owner.json: it holds 'garbage')" in \
        said.parse_owner("garbage", "/s/owner.json")["where"]


YAML = HOST_RUNNING_YAML.replace("[zdf3, zdf1]", "[zdf1, zdf2]")  # two hosts, in order


class Host:
    """A host's agent answering the pre-flight batch from its own folder."""

    installed = True

    def __init__(self, name: str, folder, problem: str | None = None):
        self.name, self.folder, self.ops, self.problem = name, folder, [], problem

    def call(self, op, *args, timeout=None):
        try:
            return self._call(op, *args)
        except Unreadable as e:   # as SshHost tells it (test_an_unreadable_record_...kind)
            raise OwnerUnreadable(str(e), self.name) from None

    def _call(self, op, *args):
        if op == "owner":   # ssh_owner's own round trip (a first deployment's claim)
            self.ops.append([f"owner {args[2]}"])
            return owner(str(self.folder), *args[1:])
        assert op == "batch"
        calls = [[name, list(a), *stop] for name, a, *stop in args[0]]
        for c in calls:
            if c[0] == "owner":
                c[1][0] = str(self.folder)
        ops = {**agent.OPS, "preflight": lambda *a: {"problem": self.problem, "free_mb": 1000,
                                                      "unshared": []},
               "owned": lambda *a: []}
        got = batch(calls, ops)
        self.ops.append([c[0] if c[0] != "owned" else c[1][3][0] for c in calls][:len(got)])
        return got


def runtime(tmp_path, state: str, folders) -> ssh.SshRuntime:
    rt = ssh.SshRuntime(tmp_path / state, parse_config(YAML, file=str(tmp_path / "z.yaml")))
    rt.hosts = {n: Host(n, folders[n]) for n in ("zdf1", "zdf2")}
    return rt


def test_the_pre_flight_batch_claims_and_refuses_another_controller_naming_it(tmp_path):
    folders = {n: tmp_path / n for n in ("zdf1", "zdf2")}
    a, b = runtime(tmp_path, "a", folders), runtime(tmp_path, "b", folders)
    ssh_release.check_and_upload(a, "v1", a.config.app)
    # a first deployment: read in the batch, recorded once every host was found ready
    assert a.hosts["zdf1"].ops == [["preflight", "owner", "adopt"], ["owner claim"]]
    a.hosts["zdf1"].ops.clear()
    ssh_release.check_and_upload(a, "v2", a.config.app)
    assert a.hosts["zdf1"].ops == [["preflight", "owner", "adopt"]]   # after it: no more
    with pytest.raises(RuntimeFailure) as e:
        ssh_release.check_and_upload(b, "v1", b.config.app)
    text = str(e.value)
    assert "nothing was changed" in text and "zdf1: shop here is deployed by another " \
        f"controller: {a.me.where}" in text and "zdf2:" in text, text
    assert b.hosts["zdf1"].ops == [["preflight", "owner"]]   # stopped there: no adopt
    assert b.connections.prefetched == {}


def test_a_refused_first_deployment_claims_no_host_even_those_that_were_ready(tmp_path):
    """zdf1 ready, zdf2 not: nothing was changed, so zdf1 records no owner (it did, when
    the batch claimed: another controller was then refused a service never deployed)."""
    folders = {n: tmp_path / n for n in ("zdf1", "zdf2")}
    a = runtime(tmp_path, "a", folders)
    a.hosts["zdf2"].problem = "only 12 MB free in /srv/zerodown"
    with pytest.raises(RuntimeFailure, match="nothing was changed"):
        ssh_release.check_and_upload(a, "v1", a.config.app)
    assert not (folders["zdf1"] / FILE).exists() and not (folders["zdf2"] / FILE).exists()
    b = runtime(tmp_path, "b", folders)   # another controller deploys it instead
    ssh_release.check_and_upload(b, "v1", b.config.app)
    assert json.loads((folders["zdf1"] / FILE).read_text())["id"] == b.me.id


def test_a_claim_refused_on_one_host_lets_go_of_those_it_recorded(tmp_path):
    """Two controllers racing their first deployments: B claimed zdf2 after A's pre-flight
    read nobody there. A is refused naming B, and zdf1 is nobody's again (it stayed A's:
    the two were left split, each refused on the other's host, until a take-over)."""
    from zerodown.runtimes import ssh_owner
    folders = {n: tmp_path / n for n in ("zdf1", "zdf2")}
    a = runtime(tmp_path, "a", folders)
    owner(str(folders["zdf2"]), B, "claim")
    with pytest.raises(RuntimeFailure, match="zdf2: shop here is deployed by another"):
        ssh_owner.claim(a, ["zdf1", "zdf2"])
    assert not (folders["zdf1"] / FILE).exists()
    assert json.loads((folders["zdf2"] / FILE).read_text())["id"] == B["id"]   # B's kept
    owner(str(folders["zdf1"]), a.me.record(), "claim")   # A's, recorded before: kept
    with pytest.raises(RuntimeFailure, match="zdf2: shop here is deployed by another"):
        ssh_owner.claim(a, ["zdf1", "zdf2"])
    assert json.loads((folders["zdf1"] / FILE).read_text())["id"] == a.me.id


@pytest.mark.parametrize("recorded", [None, A, "garbage\n"])
def test_the_shells_pre_flight_reads_the_owner_as_the_agent_would(tmp_path, recorded):
    """check_command run by a real sh here: its owner line parsed into the report."""
    import subprocess
    from zerodown.hosts.preflight import check_command, report
    d = tmp_path / "services" / "shop"
    if recorded is not None:
        d.mkdir(parents=True)
        (d / FILE).write_text(recorded if isinstance(recorded, str) else json.dumps(recorded))
    done = subprocess.run(["sh", "-c", check_command(str(tmp_path), None, str(d))],
                          capture_output=True, text=True)
    got = report("zdf1", done.returncode, done.stdout, done.stderr, None, str(d))
    assert got.ready and got.owner_read, (done.stdout, got)
    if isinstance(recorded, str):   # refused as the agent's pre-flight is, its file named
        assert f"unreadable owner record ({d / FILE}: it holds 'garbage')" in got.owner["where"]
        problem = said.judged(got, said.Identity(A["id"], A["where"]), "shop").problem
        assert problem.startswith(f"the service's owner record here cannot be read: {d / FILE}")
        assert said.TAKE_OVER in problem and "another controller" not in problem
    else:
        assert got.owner == recorded


def test_a_report_is_judged_by_whose_the_service_is_and_whether_to_record_this_one():
    from zerodown.hosts.preflight import HostReport
    me = said.Identity(A["id"], A["where"])
    theirs = HostReport("zdf1", None, 900, B, True)
    assert "another controller: root@ci" in said.judged(theirs, me, "shop").problem
    assert not said.unrecorded(theirs, me)
    mine = HostReport("zdf1", None, 900, A, True)
    assert said.judged(mine, me, "shop") == mine and not said.unrecorded(mine, me)
    moved = HostReport("zdf1", None, 900, {**A, "where": "ana@laptop:/old"}, True)
    assert said.unrecorded(moved, me)
    nobody = HostReport("zdf1", None, 900, None, True)
    assert said.judged(nobody, me, "shop").ready and said.unrecorded(nobody, me)
    unread = HostReport("lb1", None, 900)   # router.host: not read, nothing to record
    assert said.judged(unread, me, "shop").ready and not said.unrecorded(unread, me)


def test_a_check_asks_only_hosts_of_runtime_hosts(tmp_path):
    """The host watch asks about the host a deployment paused for, which may be router.host
    alone: no owner is recorded there (no instance runs there), so nothing is asked."""
    from zerodown.runtimes import ssh_owner
    rt = runtime(tmp_path, "a", {n: tmp_path / n for n in ("zdf1", "zdf2")})
    rt.hosts["lb1"] = None   # host_named's: asking it would fail this test
    ssh_owner.check(rt, ["lb1"])


def unreadable_on_zdf1(tmp_path) -> tuple[ssh.SshRuntime, object]:
    folders = {n: tmp_path / n for n in ("zdf1", "zdf2")}
    folders["zdf1"].mkdir()
    (folders["zdf1"] / FILE).write_text("garbage\n")
    return runtime(tmp_path, "a", folders), folders["zdf1"] / FILE


def test_an_unreadable_record_travels_as_its_own_kind_over_the_agents_round_trip(tmp_path):
    """SshHost tells the agent's answer of an unreadable record (the host answered: it is
    refused, where a host that does not answer is not) from any other error."""
    from types import SimpleNamespace
    from zerodown.hosts.ssh import SshHost
    (tmp_path / FILE).write_text("garbage\n")
    connections = SimpleNamespace(options=SimpleNamespace(command_timeout=5, keepalive=15),
                                  agents={})
    host = SshHost(connections, "zdf1", "/srv/zerodown")
    connections.agents["zdf1"] = {host.agent_dir}
    connections.ask = lambda name, command, request, timeout, heartbeat: SimpleNamespace(
        status=0, ok=True, stdout=json.dumps(agent.answer(request)), stderr="")
    with pytest.raises(OwnerUnreadable) as e:
        host.call("owner", str(tmp_path), A, "check")
    assert e.value.host == "zdf1" and e.value.said.startswith(
        f"the service's owner record here cannot be read: {tmp_path / FILE} (")
    with pytest.raises(RuntimeFailure) as other:
        host.call("owner", str(tmp_path), A, "grab")
    assert not isinstance(other.value, OwnerUnreadable)


def test_down_and_exec_refuse_an_unreadable_record_and_skip_a_host_that_does_not_answer(
        tmp_path):
    from zerodown.runtimes import ssh_owner
    rt, path = unreadable_on_zdf1(tmp_path)
    with pytest.raises(RuntimeFailure) as e:
        ssh_owner.check(rt)
    text = str(e.value)
    assert text.startswith("refused, nothing was changed:\n  zdf1: the service's owner "
                           f"record here cannot be read: {path} (") and said.TAKE_OVER in text
    assert "zdf2" not in text

    def silent(*args, **kwargs):
        raise HostFailure("host zdf1: owner has an unknown outcome: timed out", "zdf1")
    rt.hosts["zdf1"].call = silent
    ssh_owner.check(rt)   # left to the command's own rule for a silent host, as before


def test_the_agents_pre_flight_says_an_unreadable_record_is_one_not_no_answer(tmp_path):
    from types import SimpleNamespace
    from zerodown.hosts.preflight import preflight
    rt, path = unreadable_on_zdf1(tmp_path)
    with pytest.raises(RuntimeFailure) as e:   # a deployment's batch
        ssh_release.check_and_upload(rt, "v1", rt.config.app)
    assert f"  zdf1: the service's owner record here cannot be read: {path} (" in str(e.value)
    assert "no answer" not in str(e.value) and said.TAKE_OVER in str(e.value)
    connections = SimpleNamespace(connect_all=lambda names: {"zdf1": None},
                                  options=SimpleNamespace(hosts=[SimpleNamespace(name="zdf1")]))
    [got] = preflight(connections, "/srv/zerodown", rt.hosts, owner_dir="/srv/x/shop")
    assert got.problem.startswith(f"the service's owner record here cannot be read: {path} (")


def test_down_says_an_unreadable_record_is_one_not_that_it_is_still_recorded(capsys):
    from types import SimpleNamespace
    from zerodown.commands.service import _release_owner
    failed = {"zdf1": OwnerUnreadable("the service's owner record here cannot be read: "
                                      "/s/owner.json (x); `zerodown hosts --take-over` "
                                      "replaces it", "zdf1"),
              "zdf2": RuntimeFailure("host zdf2: owner: exited 1")}
    _release_owner(SimpleNamespace(release_owner=lambda n: failed), ["zdf1", "zdf2"], {})
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == ("zerodown down: host zdf1: the service's owner record here cannot be "
                        "read: /s/owner.json (x); `zerodown hosts --take-over` replaces it")
    assert "zdf2: this controller is still recorded" in lines[1]


def test_a_host_off_the_list_holding_instances_is_checked_taken_over_and_released(tmp_path):
    """zdf3 no longer listed, the service's instances recorded there (engine/unlisted.
    off_list): `down` stops them there, a deployment too, so the record there is checked,
    taken over and let go of like a listed host's; not asked unless named so."""
    from zerodown.runtimes import ssh_owner
    folders = {n: tmp_path / n for n in ("zdf1", "zdf2", "zdf3")}
    a = runtime(tmp_path, "a", folders)
    a.hosts["zdf3"] = Host("zdf3", folders["zdf3"])   # (host_named's, once asked)
    owner(str(folders["zdf3"]), B, "claim")
    ssh_owner.check(a)   # the list only: zdf3 not asked
    assert a.hosts["zdf3"].ops == []
    with pytest.raises(RuntimeFailure) as e:
        ssh_owner.check(a, unlisted=["zdf3"])
    assert "zdf3: shop here is deployed by another controller: root@ci" in str(e.value)
    assert "zdf1" not in str(e.value)
    taken = ssh_owner.take_over(a, ["zdf3", "zdf1"])   # (a listed one: asked once)
    assert list(taken) == ["zdf1", "zdf2", "zdf3"] and taken["zdf3"]["id"] == B["id"]
    assert {n: json.loads((f / FILE).read_text())["id"] for n, f in folders.items()} == \
        dict.fromkeys(folders, a.me.id)
    assert ssh_owner.release(a, ["zdf1", "zdf2", "zdf3"]) == {}
    assert not any((f / FILE).exists() for f in folders.values())


def test_a_deployments_pre_flight_reads_the_owner_on_a_host_off_the_list_it_acts_on(
        tmp_path):
    """Its plan stops an instance on zdf3 (off the list): another controller's record there
    refuses it, nothing changed; nobody recorded there, it goes, and claims nothing there
    (nothing starts there: no `down` would let go of such a record)."""
    folders = {n: tmp_path / n for n in ("zdf1", "zdf2", "zdf3")}
    a = runtime(tmp_path, "a", folders)
    a.hosts["zdf3"] = Host("zdf3", folders["zdf3"])
    a.connections.connect_all = lambda names: dict.fromkeys(names)   # each one answers
    ssh_release.check_and_upload(a, "v1", a.config.app)
    owner(str(folders["zdf3"]), B, "claim")
    with pytest.raises(RuntimeFailure) as e:
        ssh_release.check_and_upload(a, "v2", a.config.app, unlisted=["zdf3"])
    assert "nothing was changed:\n  zdf3: shop here is deployed by another controller: " \
        "root@ci" in str(e.value)
    owner(str(folders["zdf3"]), B, "release")
    ssh_release.check_and_upload(a, "v2", a.config.app, unlisted=["zdf3"])
    assert not (folders["zdf3"] / FILE).exists()
