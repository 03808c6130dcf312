"""The routing table's JSON form: round trip, and every malformed shape named."""

import json

import pytest

from zerodown import table_json
from zerodown.errors import TableError

GOOD = {
    "version": 3,
    "revisions": [
        {"name": "r1", "weight": 90, "backends": [{"id": "a", "address": "127.0.0.1:8001", "weight": 2}]},
        {"name": "r2", "weight": 10, "backends": [{"id": "b", "address": "[::1]:8002", "weight": 1}]},
    ],
    "rules": [{"revision": "r2", "header": "X-Canary", "equals": "1"},
              {"revision": "r2", "cookie": "beta", "regex": "^y"}],
    "sticky": {"mode": "cookie", "name": "zd", "max_age": 60},
}


def test_round_trip_is_exact():
    table = table_json.from_dict(GOOD)
    assert table_json.to_dict(table) == GOOD
    assert table_json.loads(table_json.dumps(table)) == table


def _bad(**change):
    data = json.loads(json.dumps(GOOD))
    for path, value in change.items():
        target = data
        *parents, last = path.split("__")
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is KeyError:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize("data, message", [
    ("nope", "must be a JSON object"),
    (_bad(version=-1), "version: must be an integer from 0 to 9007199254740991"),
    (_bad(version="7"), "version: must be an integer from 0 to"),
    (_bad(version=2**63), "version: must be an integer from 0 to"),
    (_bad(epoch=-1), "epoch: must be an integer from 0 to"),
    (_bad(epoch=True), "epoch: must be an integer from 0 to"),
    (_bad(revisions__0__weight=80), "weights must add up to 100, they add up to 90"),
    (_bad(revisions__0__weight=101), "revisions[0].weight: must be a number from 0 to 100"),
    (_bad(revisions__1__name="r1"), "revision 'r1' appears more than once"),
    (_bad(revisions__1__backends__0__id="a"), "duplicate backend id 'a'"),
    (_bad(revisions__0__backends__0__address="localhost"), "revisions[0].backends[0].address: must be host:port"),
    (_bad(revisions__0__backends__0__address="h:99999"), "must be host:port"),
    (_bad(revisions__0__backends__0__weight=0), "weight: must be an integer from 1 to 1000"),
    (_bad(rules__0__revision="r9"), "rules[0].revision: unknown revision 'r9' (the table has: r1, r2)"),
    (_bad(rules__0__cookie="c"), "rules[0]: needs exactly one of 'header' or 'cookie'"),
    (_bad(rules__0__equals=KeyError), "rules[0]: needs exactly one of 'equals' or 'regex'"),
    (_bad(rules__1__regex="(unclosed"), "rules[1].regex: '(unclosed' is not a valid rule regex: missing ): (unclosed"),
    (_bad(rules__1__regex="(a)\\1"), "rules[1].regex: '(a)\\\\1' is not a valid rule regex: invalid escape "
                                     "sequence: \\1 (allowed: RE2 syntax, matched in linear time"),
    (_bad(rules__0__header="Bad Header"), "is not a valid header or cookie name"),
    (_bad(sticky__mode="ip"), "sticky.mode: must be one of cookie, header, cookie-hash"),
    (_bad(colour="blue"), "table: unknown key 'colour'"),
    (_bad(revisions__0__backends__0__port=1), "unknown key 'port' (allowed: id, address, weight)"),
])
def test_malformed_tables_are_named(data, message):
    with pytest.raises(TableError) as e:
        table_json.from_dict(data)
    assert message in str(e.value)


def test_bad_json_is_a_table_error():
    with pytest.raises(TableError, match="not valid JSON"):
        table_json.loads(b"{version: 1")


def test_empty_table_is_valid():
    assert table_json.loads('{"version": 0}').revisions == ()


def test_health_check_round_trips_and_is_validated():
    data = dict(GOOD, health_check={"path": "/up", "interval": 0.5, "timeout": 0.2, "fall": 3, "rise": 2})
    assert table_json.to_dict(table_json.from_dict(data)) == data
    for bad, message in (({"path": "up"}, "health_check.path"), ({"interval": 0}, "health_check.interval"),
                         ({"fall": 0}, "health_check.fall"), ({"every": 1}, "unknown key 'every'")):
        with pytest.raises(TableError, match=message):
            table_json.from_dict(dict(GOOD, health_check=bad))
