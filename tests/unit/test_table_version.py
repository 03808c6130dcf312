"""Which routing table may replace which (zerodown/table_version.py)."""

from __future__ import annotations

import pytest

from zerodown.errors import StaleTableError
from zerodown.model import RoutingTable
from zerodown.table_version import check_newer


def t(version: int, epoch: int = 0, name: str = "r1") -> RoutingTable:
    from zerodown.model import RevisionRoute
    return RoutingTable(version, (RevisionRoute(name, 100),), epoch=epoch)


@pytest.mark.parametrize("new, current", [
    (t(2), t(1)), (t(1), t(1)), (t(1, epoch=1), t(1_000_000)), (t(5, epoch=2), t(9, epoch=1)),
    (t(0), RoutingTable(0)), (t(1, epoch=1, name="r2"), t(1, epoch=0))])
def test_later_tables_and_the_same_table_pass(new, current):
    check_newer(new, current)


@pytest.mark.parametrize("new, current, said", [
    (t(1), t(2), "table version 1 is older than the one in force (version 2)"),
    (t(1_000_001), t(1, epoch=1), "(version 1 of epoch 1)"),
    (t(3, name="r2"), t(3), "version 3 is already in force with other content; send version 4"),
    (t(3, 2, "r2"), t(3, 2), "send version 4 of epoch 2")])
def test_older_tables_and_a_second_table_under_one_version_are_refused(new, current, said):
    with pytest.raises(StaleTableError, match=said.replace("(", r"\(").replace(")", r"\)")) as e:
        check_newer(new, current)
    assert e.value.in_force == (current.epoch, current.version)
