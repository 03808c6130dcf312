"""`logs:` in zerodown.yaml (config.py, config_model.LogsConfig): sizes as docker, logrotate
and systemd users write them, the bounds and the words of every refusal; the defaults are
what the stampers did before the section existed; what an instance's record carries to its
host (hosts/log_prune.py bounds_of)."""

from __future__ import annotations

import pytest

from tests.support.unit_config import shop_config
from zerodown.config import apply_overrides
from zerodown.config_model import LogsConfig
from zerodown.errors import ConfigError
from zerodown.hosts.log_prune import KEEP_ENDED, bounds_of


@pytest.mark.parametrize("text, keep, size", [
    ("{max_size: 10MB, keep_ended: 3}", 3, 10 << 20),
    ("{max_size: 512KB}", KEEP_ENDED, 512 << 10),
    ("{max_size: 100m}", KEEP_ENDED, 100 << 20),       # docker's log-opts max-size
    ("{max_size: 1GiB}", KEEP_ENDED, 1 << 30),
    ("{max_size: 1.5M}", KEEP_ENDED, 3 << 19),
    ("{max_size: 262144}", KEEP_ENDED, 256 << 10),     # a number is bytes
    ("{max_size: null, keep_ended: 1}", 1, None),
])
def test_sizes_and_counts(text, keep, size):
    assert shop_config(logs=text).logs == LogsConfig(keep_ended=keep, max_size=size)


@pytest.mark.parametrize("text, expected", [
    ("{max_size: 100KB}", 'logs.max_size: must be at least 256KB (rotated at half, the '
                          "newest half is what is sure to remain: 128KB at least keeps a "
                          'boot\'s lines and a crash\'s), got "100KB"'),
    ("{max_size: 2TB}", 'logs.max_size: must be at most 1TB, got "2TB"'),
    ("{max_size: lots}", 'logs.max_size: must be a size like "10MB", "512KB" or "1GB" '
                         "(K, M, G: 1024, 1024², 1024³ bytes; a number is bytes), got "
                         '"lots"'),
    ("{max_size: 10XB}", 'logs.max_size: must be a size like "10MB"'),
    ("{max_size: -5}", "logs.max_size: must be at least 256KB"),
    ("{keep_ended: 0}", "logs.keep_ended: must be an integer from 1 to 100000, got 0"),
    ("{max-size: 10m}", 'logs.max-size: unknown key "max-size" (did you mean "max_size"?)'),
    ("10MB", "logs: must be a mapping with keys keep_ended, max_size, got \"10MB\""),
])
def test_a_refusal_names_the_key_and_what_is_valid(text, expected):
    with pytest.raises(ConfigError) as e:
        shop_config(logs=text)
    assert f"zerodown.yaml:6: {expected}" in str(e.value)


def test_unset_is_unbounded_with_fifty_ended_kept_as_before():
    cfg = shop_config()
    assert cfg.logs == LogsConfig(keep_ended=50, max_size=None)
    assert bounds_of({}) == (50, None), "a record of an earlier zerodown: the defaults"
    assert bounds_of({"logs": cfg.logs.record()}) == (50, None)


def test_a_record_carries_the_bounds_and_set_changes_them():
    cfg = apply_overrides(shop_config(logs="{keep_ended: 4}"), ["logs.max_size=1MB"])
    assert bounds_of({"logs": cfg.logs.record()}) == (4, 1 << 20)
