"""The batch (zerodown/hosts/files.py): several calls in one (over SSH the agent's, of all
its calls: one round trip), ended early by an answer that says so (a pre-flight's problem:
no release prepared after it). This machine's LocalHost batches its file and socket calls."""

from __future__ import annotations

import json

import pytest

from zerodown.hosts import agent
from zerodown.hosts.local import LocalHost


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


def test_this_machine_s_batch_is_the_same_over_its_own_calls(tmp_path):
    """LocalHost's batch: the same checks and stop keys, over the file and socket calls a
    router makes (an agent-only call is refused, naming the valid ones, before any runs)."""
    with pytest.raises(ValueError, match=r"no batch operation 'preflight'; valid: ask_unix, "
                                         r"ask_unix_many, read_text, remove, write_text"):
        LocalHost.batch([["write_text", [str(tmp_path / "f"), "x"]],
                         ["preflight", [str(tmp_path)]]])
    assert not (tmp_path / "f").exists()
    (tmp_path / "g").write_text("stop")
    got = LocalHost.batch([["read_text", [str(tmp_path / "g")], ["problem"]],
                           ["remove", [str(tmp_path / "g")]]])
    assert got == ["stop", None] and not (tmp_path / "g").exists()
