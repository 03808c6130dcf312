"""Fixtures of the engine's tests on fakes (tests/support/engine_world.py): `world`, a fresh
World in the test's tmp_path, and `no_proof_samples`, which the test_runner*.py files use."""

from __future__ import annotations

import pytest

from tests.support.engine_world import World
from zerodown.engine import proof_recorder


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


@pytest.fixture
def no_proof_samples(monkeypatch):
    """The proof's thread samples the router every SAMPLE seconds of real time: on a slow
    machine a run makes more counted calls than on a fast one, and a crash point numbered
    in one run may never come in the next (CI: "the crash point was never reached"). Its
    first and last readings stay; the samples between are not these tests' matter."""
    monkeypatch.setattr(proof_recorder, "SAMPLE", 3600.0)

