"""A host's pre-flight report from what its check printed (zerodown/hosts/preflight.py)."""

import subprocess

import pytest

from zerodown.errors import RuntimeFailure
from zerodown.hosts.preflight import HostReport, check_command, judged, refuse_unless_ready, report

DF = "/dev/sda1 41152736 10000000 {free} 25% /\n"


def test_a_ready_host_reports_its_free_space():
    assert report("app1", 0, DF.format(free=2048000), "") == HostReport("app1", None, 2000)


@pytest.mark.parametrize("status, stdout, stderr, words", [
    (None, "", "no answer from app1 within 10s", "no answer"),
    (3, "", "python3 is not installed\n", "python3 is not installed"),
    (0, DF.format(free=1024), "", "only 1 MB free"),
    (0, "garbage", "", "cannot read free space"),
])
def test_a_host_that_is_not_ready_says_why(status, stdout, stderr, words):
    r = report("app1", status, stdout, stderr)
    assert not r.ready and words in r.problem


def test_the_refusal_names_every_bad_host():
    with pytest.raises(RuntimeFailure, match=r"nothing was changed:\n  app2: down\n  app3: full"):
        refuse_unless_ready([HostReport("app1"), HostReport("app2", "down"),
                             HostReport("app3", "full")])


def test_what_the_agent_found_is_judged_as_the_shells_output_is():
    assert judged("app1", None, 2000) == report("app1", 0, DF.format(free=2048000), "")
    assert judged("app1", None, 1) == report("app1", 0, DF.format(free=1024), "")
    assert not judged("app1", "state_dir /x is not writable", None).ready


def test_a_state_dir_that_cannot_be_made_is_one_line_as_the_agent_says_it(tmp_path):
    """The shell's check run by a real sh: mkdir's complaint and the check's own line were
    two lines, which broke `zerodown hosts`'s table (its PROBLEM cell) in two."""
    (tmp_path / "file").write_text("")
    state_dir = str(tmp_path / "file" / "zerodown")  # under a file: mkdir -p fails
    done = subprocess.run(["sh", "-c", check_command(state_dir)], capture_output=True, text=True)
    r = report("app1", done.returncode, done.stdout, done.stderr)
    assert r == judged("app1", f"state_dir {state_dir} is not writable", None), r
    said = report("app1", 4, "", "mkdir: cannot create directory '/x': Permission denied\n"
                                 "state_dir /x is not writable\n")
    assert said.problem == ("mkdir: cannot create directory '/x': Permission denied; "
                            "state_dir /x is not writable")


def test_a_hosts_own_failure_is_not_named_twice_in_the_refusal():
    """HostUnreachable's words begin with the host, and the refusal (and `zerodown hosts`)
    name it first: `zdn2: host zdn2: no SSH connection within 2s` read twice."""
    r = HostReport("app2", "host app2: no SSH connection within 2s (runtime.connect_timeout)")
    assert r.problem == "no SSH connection within 2s (runtime.connect_timeout)"
    with pytest.raises(RuntimeFailure, match=r"nothing was changed:\n  app2: no SSH connection "
                                             r"within 2s \(runtime.connect_timeout\)$"):
        refuse_unless_ready([HostReport("app1"), r])
    other = HostReport("app2", "host app3 said no")  # another host's name is kept
    assert other.problem == "host app3 said no"
