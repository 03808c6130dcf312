"""The files zerodown.yaml names are checked where they are used (zerodown/config_files.py):
a broken certificate fails neither the load nor a command that does not need it (`down`,
`history`), and `validate`, `plan`, `deploy` and `up` refuse it naming file, line, key and
why (certificates made by openssl). The running service: tests/e2e/test_tls_broken_files.py."""

from __future__ import annotations

import pytest

from tests.support.certs import TestCA
from zerodown.cli import main
from zerodown.config_files import check_files, file_problems
from zerodown.controller import Controller
from zerodown.errors import ConfigError

BASE = "service: shop\nlisten: 127.0.0.1:8443\napp: {command: \"python app.py --port {port}\"}\n"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return TestCA(tmp_path_factory.mktemp("certs"))


def broken(ca, how: str, folder) -> tuple[str, str]:
    """(cert, key) of a pair broken `how`, as a renewal gone wrong leaves it."""
    leaf = ca.leaf("shop.test")
    if how == "missing":
        return str(folder / "gone.pem"), str(leaf.key)
    if how == "not its key":
        return str(leaf.cert), str(ca.leaf("other.test").key)
    cut = folder / "cut.pem"  # certbot stopped mid-write
    cut.write_bytes(leaf.cert.read_bytes()[:60])
    return str(cut), str(leaf.key)


WHY = {"missing": "cannot read", "not its key": "does not load", "half written": "does not load"}


def write(tmp_path, cert: str, key: str, sni: str = "") -> str:
    path = tmp_path / "zerodown.yaml"
    path.write_text(BASE + f"tls:\n  cert: {cert}\n  key: {key}\n" + sni)
    return str(path)


@pytest.mark.parametrize("how", sorted(WHY))
def test_a_broken_pair_loads_and_is_named_where_it_is_used(tmp_path, ca, how):
    cert, key = broken(ca, how, tmp_path)
    ctl = Controller(write(tmp_path, cert, key))
    cfg = ctl.working_config()  # what status, down, pause, abort, logs... load
    assert cfg.tls.cert == cert and ctl.config() is cfg
    with pytest.raises(ConfigError) as e:
        check_files(cfg)
    assert e.value.key == "tls.cert" and e.value.line == 5, str(e.value)
    assert str(e.value).startswith(f"{cfg.file}:5: tls.cert: ")
    assert WHY[how] in str(e.value) and cert in str(e.value)


def test_every_broken_pair_is_listed_and_a_sound_one_is_not(tmp_path, ca):
    good = ca.leaf("shop.test")
    cert, key = broken(ca, "not its key", tmp_path)
    sni = f"  certificates:\n    - names: [api.test]\n      cert: {cert}\n      key: {key}\n"
    assert file_problems(Controller(write(tmp_path, good.cert, good.key)).config()) == []
    cfg = Controller(write(tmp_path, good.cert, good.key, sni)).config()
    (problem,) = file_problems(cfg)
    assert problem.key == "tls.certificates[0].cert" and problem.line == 9
    cfg = Controller(write(tmp_path, cert, key, sni)).config()
    with pytest.raises(ConfigError) as e:
        check_files(cfg)
    assert "2 problems" in str(e.value)
    assert [p.key for p in e.value.errors] == ["tls.cert", "tls.certificates[0].cert"]


def test_down_and_history_work_and_validate_plan_deploy_up_refuse_naming_it(tmp_path, ca,
                                                                             capsys):
    cert, key = broken(ca, "not its key", tmp_path)
    path = write(tmp_path, cert, key)
    assert main(["-f", path, "down"]) == 0
    assert main(["-f", path, "history"]) == 0
    out = capsys.readouterr()
    assert "nothing deployed here" in out.out and "no deployments yet" in out.out
    assert out.err == ""  # nothing said of a file these commands do not need
    for command in (["validate"], ["plan", "v1"], ["deploy", "v1"], ["up"]):
        assert main(["-f", path, *command]) == 2, command
        err = capsys.readouterr().err
        assert f"zerodown.yaml:5: tls.cert: certificate {cert!r}" in err, (command, err)
        assert "does not load" in err and key in err
    assert not (tmp_path / ".zerodown" / "controller.sock").exists()  # nothing started


@pytest.mark.parametrize("key", ["known_hosts", "identity_file", "ssh_config"])
def test_validate_names_a_fleets_file_this_machine_cannot_read(tmp_path, capsys, key):
    """runtime ssh's files of this machine: `validate` said "valid" of a file whose
    known_hosts did not exist, and only the first connection named it."""
    for name in ("known_hosts", "id_deploy", "ssh_config"):
        (tmp_path / name).write_text("")
    files = {"known_hosts": "known_hosts", "identity_file": "id_deploy", "ssh_config": "ssh_config"}
    files[key] = "gone"
    path = tmp_path / "zerodown.yaml"
    path.write_text(BASE + "runtime:\n  kind: ssh\n  hosts: [app1]\n"
                    + "".join(f"  {k}: {v}\n" for k, v in files.items()))
    assert main(["-f", str(path), "validate"]) == 2
    err = capsys.readouterr().err
    line = 7 + list(files).index(key)
    assert f"zerodown.yaml:{line}: runtime.{key}: cannot read {tmp_path / 'gone'} " \
           f"(No such file or directory)" in err, err
    (tmp_path / "gone").write_text("")
    assert main(["-f", str(path), "validate"]) == 0
