"""The pictures in docs/img/ are what scripts/diagrams.py draws from the code: the lifecycle
from its transition table, the timelines from the real planners. A change to either that
leaves a committed picture stale fails here (`.venv/bin/python scripts/diagrams.py`)."""

from __future__ import annotations

import runpy
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_pictures_are_what_the_code_draws():
    pictures = runpy.run_path(str(REPO / "scripts" / "diagrams.py"))["pictures"]()
    for name, text in pictures.items():
        path = REPO / "docs" / "img" / name
        assert path.exists() and path.read_text() == text, \
            f"docs/img/{name} is stale: run .venv/bin/python scripts/diagrams.py"


def test_every_lifecycle_transition_has_an_arrow_or_the_drawing_fails():
    module = runpy.run_path(str(REPO / "scripts" / "diagrams.py"))
    from zerodown.engine.lifecycle import TRANSITIONS, Phase
    drawn = set(module["EDGES"])
    wanted = {(a, b) for a, bs in TRANSITIONS.items() for b in bs if b is not Phase.FAILED}
    assert drawn == wanted
