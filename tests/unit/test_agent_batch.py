"""The agent's batch (zerodown/hosts/agent.py): several of its calls in one round trip,
ended early by an answer that says so (a pre-flight's problem: no release prepared after it)."""

from __future__ import annotations

import json

import pytest

from zerodown.hosts import agent


def test_a_batch_runs_agent_calls_in_order_and_answers_each(tmp_path):
    state = tmp_path / "state"
    got = agent._batch([["preflight", [str(state)]],
                        ["write_text", [str(tmp_path / "f"), "x"]],
                        ["read_text", [str(tmp_path / "f")]]])
    assert got[0]["problem"] is None and got[0]["free_mb"] > 0
    assert got[1:] == [None, "x"] and state.is_dir()


def test_an_answer_with_a_true_stop_key_ends_the_batch(tmp_path, monkeypatch):
    monkeypatch.setitem(agent.OPS, "preflight", lambda d: {"problem": "disk full", "free_mb": 1})
    got = agent._batch([["preflight", [str(tmp_path)], ["problem"]],
                        ["write_text", [str(tmp_path / "f"), "x"]]])
    assert got == [{"problem": "disk full", "free_mb": 1}]
    assert not (tmp_path / "f").exists(), "nothing after the stopping answer ran"
    got = agent._batch([["write_text", [str(tmp_path / "g"), "y"], ["problem"]],
                        ["read_text", [str(tmp_path / "g")], ["problem"]]])
    assert got == [None, "y"], "an answer without the key (not a dict) goes on"


@pytest.mark.parametrize("op", ["nonsense", "batch"])
def test_an_unknown_or_nested_call_refuses_the_whole_batch_before_any_runs(tmp_path, op):
    answer = agent.answer(json.dumps({"op": "batch", "args": [[
        ["write_text", [str(tmp_path / "f"), "x"]], [op, []]]]}))
    assert "no batch operation" in answer["error"] and "preflight" in answer["error"]
    assert not (tmp_path / "f").exists()
