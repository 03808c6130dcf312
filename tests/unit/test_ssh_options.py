"""runtime: {kind: ssh} options: what is accepted, and errors naming runtime.<key>."""

import pytest

from zerodown.errors import ConfigError
from zerodown.runtimes.ssh_options import HostSpec, chooses_ciphers, host_names, parse_options


def test_hosts_are_names_or_user_address_port():
    opts = parse_options({"hosts": ["app1", "deploy@10.0.0.13:2222", "[fd00::1]:22"],
                          "instances_per_host": 2, "command_timeout": "90s"})
    assert opts.hosts == (HostSpec("app1", "app1"), HostSpec("deploy@10.0.0.13:2222",
                          "10.0.0.13", "deploy", 2222), HostSpec("[fd00::1]:22", "fd00::1", None, 22))
    assert (opts.instances_per_host, opts.command_timeout, opts.state_dir) == \
        (2, 90.0, "/var/lib/zerodown")


@pytest.mark.parametrize("options, key, words", [
    ({}, "runtime.hosts", "needs hosts"),
    ({"hosts": []}, "runtime.hosts", "non-empty list"),
    ({"hosts": ["a b"]}, "runtime.hosts", "[user@]address[:port]"),
    ({"hosts": ["a", "a"]}, "runtime.hosts", "a more than once"),
    ({"hosts": ["a:70000"]}, "runtime.hosts", "1-65535"),
    ({"hosts": ["a"], "state_dir": "rel"}, "runtime.state_dir", "absolute path"),
    ({"hosts": ["a"], "instances_per_host": 0}, "runtime.instances_per_host", ""),
    ({"hosts": ["a"], "hostz": 1}, "runtime.hostz", "allowed: kind, hosts"),
])
def test_bad_options_name_their_key(options, key, words):
    with pytest.raises(ConfigError) as e:
        parse_options(options, file="zerodown.yaml")
    assert e.value.key == key and words in str(e.value) and "zerodown.yaml" in str(e.value)


def test_slots_spread_over_the_hosts_in_turn():
    from zerodown.model import host_for
    assert [host_for(("a", "b", "c"), i) for i in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]


@pytest.mark.parametrize("text, chooses", [
    ("Host app1\n  HostName 10.0.0.11\n", False),
    ("Host app1\n  Ciphers aes256-ctr\n", True),
    ("ciphers=aes256-ctr\nHost app1\n", True),          # Keyword=value, any case
    ("Include ~/.ssh/more\n", True),                    # it may set Ciphers there
    ("# Ciphers aes256-ctr\nHost app1\n", False),       # a comment
    ("Host app1\n  ProxyCommand ssh -o Ciphers=x jump\n", False),  # a value, not a keyword
])
def test_an_ssh_config_chooses_the_ciphers_by_a_line_of_its_own(tmp_path, text, chooses):
    config = tmp_path / "ssh_config"
    config.write_text(text)
    assert chooses_ciphers(str(config)) is chooses


def test_no_ssh_config_file_chooses_nothing(tmp_path):
    assert chooses_ciphers(str(tmp_path / "missing")) is False


def test_host_names_come_from_hosts_then_the_ssh_configs_plain_host_entries(tmp_path):
    (tmp_path / "ssh_config").write_text("Host=lb1 app1 web*\n  HostName 10.0.0.2\n"
                                         "# Host commented\nHost !db lb2\n")
    assert host_names({"hosts": ["app1"], "ssh_config": "ssh_config"}, str(tmp_path)) == \
        ["app1", "lb1", "lb2"]
