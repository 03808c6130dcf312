"""A bad `set` of POST /api/v1/deployments is refused naming the JSON field the caller sent
(`set[1] ...`, `strategy "..."`), not the command line's `--set` flag; the checks are the
config's own (config.apply_overrides), the same as `zerodown deploy --set` runs."""

from __future__ import annotations

import pytest

from zerodown.api.errors import ApiError
from zerodown.controller import Controller
from zerodown.daemon.actions import Actions, as_sent

YAML = """\
service: shop
listen: 127.0.0.1:18080
instances: 2
app: {command: [app, --port, "{port}"]}
strategy: {kind: rolling, max_surge: 1}
"""


def refused(tmp_path, body: dict) -> ApiError:
    file = tmp_path / "zerodown.yaml"
    file.write_text(YAML)
    actions = Actions(lambda: Controller(str(file), str(tmp_path / "state")), lambda: None)
    with pytest.raises(ApiError) as e:
        actions.deploy({"version": "v2", **body}, "test", "unit")
    assert e.value.status == 400 and e.value.field == "set", e.value.message
    assert "--set" not in e.value.message, e.value.message
    assert not (tmp_path / "state").exists(), "a refused request wrote state"
    return e.value




@pytest.mark.parametrize("body, said", [
    ({"set": ["strategy.max_surge=2", "instances=zero"]},
     "set[1] instances=zero: instances: must be an integer from 1 to "),
    ({"set": ["listen=127.0.0.1:1"]}, "set[0]: listen: cannot change per deployment"),
    ({"set": ["instances"]}, "set must be a list of \"key=value\" strings"),
    ({"set": ["strategy.kind=canary", "strategy.steps=7"]}, "set[1] strategy.steps=7: "),
    ({"strategy": "canary", "set": ["strategy.steps=[{weight: 500}]"]},
     "set[0] strategy.steps=[{weight: 500}]: strategy.steps[0].weight: "),
])
def test_a_bad_setting_names_the_json_field_it_was_sent_in(tmp_path, body, said):
    assert refused(tmp_path, body).message.startswith(said)


def test_a_change_of_kind_is_named_by_the_field_that_asked_it():
    moved = 'strategy={"kind": "canary"}'
    assert as_sent([], [moved], "canary") == {moved: 'strategy "canary"'}
    asked = ["strategy.kind=canary", "instances=3"]
    assert as_sent(asked, [moved, *asked], "blue-green") == {
        moved: "set[0] strategy.kind=canary", "strategy.kind=canary": "set[0] strategy.kind=canary",
        "instances=3": "set[1] instances=3"}
    assert as_sent(asked[1:], asked[1:], None) == {"instances=3": "set[0] instances=3"}
