"""A list of deployments (the API's, up to 1000; `history`) reads no plan: each one's
length is a column, and only the step at its cursor is parsed (Store.listed); what it
shows is what the whole deployment shows. An older store's plans move to `plans` (the
10th migration) and read the same."""

from __future__ import annotations

import json

from tests.support.engine_world import World, config
from tests.unit.test_instance_host import schema_at
from tests.unit.test_store_history_paths import FILE, _get
from zerodown import gather
from zerodown.api.routes import Api
from zerodown.controller import Controller, labels
from zerodown.daemon.observer import Observer
from zerodown.engine import store_deployments
from zerodown.engine.lifecycle import Phase
from zerodown.engine.store import Store
from zerodown.engine.store_deployments import PLANS_KEPT
from zerodown.plan_data import step_to_data
from zerodown.views import deployment_dict


def test_the_api_s_longest_list_parses_one_step_a_deployment_at_most(tmp_path, monkeypatch):
    world = World(tmp_path / "state")
    engine = world.engine(config(3))
    for n in range(PLANS_KEPT + 6):  # more than a store keeps parsed
        engine.run(engine.deploy(f"v{n}"))
    pending = engine.deploy("v-next")  # at its first step
    (tmp_path / "zerodown.yaml").write_text(FILE)
    ctl = Controller(str(tmp_path / "zerodown.yaml"), state_dir=str(tmp_path / "state"))
    ctl.watched = ctl.watch()
    api = Api(Observer(ctl, lambda: None), None, "shop", lambda: None)
    parsed = []
    real = store_deployments.step_from_data
    monkeypatch.setattr(store_deployments, "step_from_data",
                        lambda data: parsed.append(data) or real(data))
    answer = json.loads(api.deployments(_get("/deployments", limit="1000")).body)["deployments"]
    assert len(answer) == PLANS_KEPT + 7
    assert [p["step"] for p in parsed] == ["Start"]  # the pending one's: the others ended
    # each as the whole deployment shows it
    monkeypatch.setattr(store_deployments, "step_from_data", real)
    known = labels(engine.store, "shop")
    for shown in answer:
        whole = gather.deployment_view(engine.store.deployment(shown["id"]), known,
                                       proof=engine.store.proofs([shown["id"]]).get(shown["id"]))
        assert {k: v for k, v in shown.items() if k not in ("settled", "duration_s")} == {
            k: v for k, v in deployment_dict(whole, 0).items() if k != "duration_s"}
    assert answer[0]["id"] == pending and answer[0]["step_text"].startswith("start")


def test_a_replaced_plan_lists_with_its_new_length_and_step(tmp_path):
    world = World(tmp_path)
    engine = world.engine(config(3))
    engine.run(engine.deploy("v1"))
    id = engine.deploy("v2")
    engine.store.signal(id, "abort")  # pending: nothing to undo, it ends at once
    d = engine.store.deployment(id)
    (listed,) = [x for x in engine.store.listed("shop") if x.id == id]
    assert (listed.length, listed.step, listed.cursor, listed.phase) == (
        len(d.steps), d.step, d.cursor, d.phase)
    assert d.phase is Phase.ABORTED


def test_an_older_store_s_plans_move_to_their_table_and_read_the_same(tmp_path):
    world = World(tmp_path / "new")
    engine = world.engine(config(3))
    engine.run(engine.deploy("v1"))
    engine.run(engine.deploy("v2"))
    done, first = engine.store.deployments("shop")
    db = schema_at(tmp_path / "old.db", 8)
    db.execute("INSERT INTO services (name, config, updated) VALUES ('shop', '{}', 0)")
    for d in (first, done):
        db.execute("INSERT INTO revisions VALUES ('shop', ?, ?, '{}', 0)",
                   (d.to_revision, f"v{d.to_revision}"))
        db.execute("INSERT INTO deployments (id, service, kind, from_revision, to_revision, "
                   "strategy, plan, plan_kind, plan_version, cursor, phase, on_failure, created,"
                   " updated) VALUES (?, 'shop', 'deploy', ?, ?, '{}', ?, 'deploy', 3, ?, ?, "
                   "'rollback', 0, 0)",
                   (d.id, d.from_revision, d.to_revision,
                    json.dumps([step_to_data(s) for s in d.steps]), d.cursor - 1,
                    "paused" if d is done else "succeeded"))
    db.close()
    with Store(tmp_path / "old.db") as s:
        for d in (first, done):
            again = s.deployment(d.id)
            (listed,) = [x for x in s.listed("shop") if x.id == d.id]
            assert again.steps == d.steps and listed.length == len(d.steps)
            assert listed.step == again.step == d.steps[d.cursor - 1]
        assert s.db.execute("SELECT count(*) FROM deployments WHERE plan != ''").fetchone()[0] == 0
        assert s.db.execute("SELECT version FROM plans WHERE deployment = ?",
                            (done.id,)).fetchone()[0] == 3
