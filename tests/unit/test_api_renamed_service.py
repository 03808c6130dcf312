"""zerodown.yaml renamed to another service while the controller runs: the controller
runs the service it started with (docs/architecture.md, restart_needed). A deploy of the
new name is refused, nothing written (it was recorded as a deployment of the other service
that no runner takes, and answered with a 404); pause, resume, promote and abort steer
the deployment the controller runs (they looked for one of the new name: none)."""

from __future__ import annotations

import pytest

from zerodown.api.errors import ApiError
from zerodown.daemon.actions import Actions
from zerodown.engine.lifecycle import Phase
from zerodown.fakes import FakeRuntime

from tests.unit.test_controller_threads import controllers


def test_a_renamed_file_deploys_nothing_and_the_running_deployment_is_still_steered(
        tmp_path, monkeypatch):
    fresh = controllers(tmp_path, monkeypatch, FakeRuntime())
    actions = Actions(fresh, lambda: None, "shop")
    id = actions.deploy({"version": "v1"}, "test", "unit")["id"]  # pending: no runner here
    file = tmp_path / "zerodown.yaml"
    file.write_text(file.read_text().replace("service: shop", "service: shop2"))
    with pytest.raises(ApiError) as e:
        actions.deploy({"version": "v2"}, "test", "unit")
    assert e.value.status == 400 and "shop2" in e.value.message and "runs shop" in \
        e.value.message, e.value.message
    with pytest.raises(ApiError) as e:
        actions.rollback({}, "test", "unit")
    assert e.value.status == 400 and "shop2" in e.value.message, e.value.message
    store = fresh().store()
    assert [d.service for d in store.deployments()] == ["shop"]
    assert actions.signal("current", "abort", {}, "test", "unit")["id"] == id
    assert store.deployment(id).phase is Phase.ABORTED
