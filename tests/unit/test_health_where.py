"""A health wait's error names where the probe went once: `connection refused by
127.0.0.1:60085/healthz from 127.0.0.1:60085/healthz` said the address twice."""

from __future__ import annotations

import pytest

from zerodown.config import parse_config, starter_yaml
from zerodown.engine.health import _where
from zerodown.model import Instance, Revision, Slot


@pytest.fixture
def inst_rev():
    cfg = parse_config(starter_yaml())
    return (Instance("web", 2, Slot(2), "127.0.0.1:60085", 41),
            Revision("web", 2, "v2", cfg.app, cfg.health))


@pytest.mark.parametrize("seen, said", [
    ("connection refused by 127.0.0.1:60085/healthz",
     "connection refused by 127.0.0.1:60085/healthz"),
    ("HTTP 503", "HTTP 503 from 127.0.0.1:60085/healthz"),
    ("no answer yet from 127.0.0.1:60085/healthz", "no answer yet from 127.0.0.1:60085/healthz"),
])
def test_the_probed_address_is_named_once(inst_rev, seen, said):
    assert _where(seen, *inst_rev) == said
