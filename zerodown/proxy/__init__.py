"""The embedded data plane. Its hot modules run compiled when a fresh build exists (accel.py)."""

from zerodown.proxy import accel as _accel

_accel.activate(__path__)
