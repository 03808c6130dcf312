"""runtime: {kind: ssh} options: what is accepted, and errors naming runtime.<key>."""

import pytest

from zerodown.errors import ConfigError
from zerodown.runtimes.ssh_options import HostSpec, parse_options


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
