"""schema_sections' driver options: a key refused before any is parsed, and the options of
a router's managed mode refused when it is attached to the user's own load balancer."""

from __future__ import annotations

import pytest

from zerodown.errors import ConfigError
from zerodown.routers import haproxy_options, nginx_options
from zerodown.schema import integer
from zerodown.schema_sections import driver_options, refuse_managed_only

PARSERS = {"workers": integer(1, 8).parse, "config": str}
LINES = {"router": 3, "router.queue": 5, "router.workers": 6}


def test_a_refused_key_is_refused_with_its_reason_before_unknown_and_invalid_ones():
    with pytest.raises(ConfigError) as e:
        driver_options("router", "x", PARSERS, {"nope": 1, "workers": 99, "queue": "2s"},
                       file="z.yaml", lines=LINES, refused={"queue": "x has no queue"})
    assert (e.value.key, e.value.line, e.value.file) == ("router.queue", 5, "z.yaml")
    assert "x has no queue" in str(e.value)
    values, _ = driver_options("router", "x", PARSERS, {"workers": 2},
                               refused={"queue": "x has no queue"})
    assert values == {"workers": 2}


def test_an_attached_router_refuses_the_first_managed_only_option_set():
    _, error = driver_options("router", "x", PARSERS, {}, lines=LINES)
    managed_only = {"lanes": "not here", "workers": "your x.conf says workers"}
    with pytest.raises(ConfigError) as e:
        refuse_managed_only({"config": "/etc/x", "workers": 2}, "config", managed_only, error)
    assert (e.value.key, e.value.line) == ("router.workers", 6)
    assert str(e.value).endswith("not in attach mode (router.config): your x.conf says "
                                 "workers; remove router.workers"), str(e.value)
    refuse_managed_only({"workers": 2}, "config", managed_only, error)  # managed: fine


@pytest.mark.parametrize("parse, options, said", [
    (haproxy_options.parse_options,
     {"socket": "/run/h.sock", "backend": "app", "lanes": 8},
     "not in attach mode (router.socket): zerodown adds its servers to your one backend "
     "(router.backend); lanes are backends it renders only for an HAProxy it runs; "
     "remove router.lanes"),
    (nginx_options.parse_options,
     {"config": "/etc/nginx/zd.conf", "pid_file": "/run/nginx.pid", "workers": 2},
     "not in attach mode (router.config): your nginx.conf says worker_processes (zerodown "
     "writes only an http-level file there, and renders it only for an nginx it runs); "
     "remove router.workers"),
])
def test_both_routers_say_it_in_the_same_words(parse, options, said):
    with pytest.raises(ConfigError) as e:
        parse(options)
    assert str(e.value).endswith(said), str(e.value)
