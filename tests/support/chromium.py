"""Debian's chromium driven by Playwright, for the tests that load pages in a real browser."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"]  # a container's /dev/shm is small

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - installed by the test extras
    sync_playwright = None


def require_chromium() -> None:
    """Skip the calling test module without a browser, except under CI (never skipped)."""
    if (sync_playwright is None or not os.path.exists(CHROMIUM)) \
            and os.environ.get("CI") != "true":
        pytest.skip("needs Debian's chromium and playwright (bash scripts/setup.sh installs "
                    "both); never skipped under CI", allow_module_level=True)
