"""The shadow's answer against stable's (zerodown/shadow/diff.py)."""

import json

import pytest

from zerodown.shadow.diff import Answer, PathError, Spec, compare, parse_path


def doc(**fields) -> Answer:
    return Answer(200, (("Content-Type", "application/json"),), json.dumps(fields).encode())


def test_equal_answers_agree_and_ignored_paths_are_ignored():
    spec = Spec(ignore=(parse_path("$.time"), parse_path("$.items[*].id")))
    a = doc(time=1, items=[{"id": 1, "name": "x"}], total=3)
    b = doc(time=2, items=[{"id": 9, "name": "x"}], total=3)
    assert compare(a, b, spec) is None
    assert compare(a, b, Spec()).where == "$.items[0].id"  # not ignored: the first difference


def test_the_first_difference_is_named_where_it_is():
    assert compare(doc(a=1), doc(a=1, b=2), Spec()).text() == "$.b: stable (absent) · shadow 2"
    assert compare(doc(a=[1, 2]), doc(a=[1]), Spec()).where == "$.a.length"
    assert compare(doc(a=1), doc(a="1"), Spec()).where == "$.a"  # a type change is one
    assert compare(Answer(200), Answer(500), Spec()).what == "status"
    got = compare(Answer(200, body=b"hello world"), Answer(200, body=b"hello there"),
                  Spec(body="exact"))
    assert got.where == "byte 6" and got.stable == "world"
    assert compare(Answer(200, body=b"x"), Answer(200, body=b"y"), Spec(body="none")) is None


def test_only_chosen_headers_are_compared():
    a = Answer(200, (("ETag", "1"), ("Date", "Mon")))
    b = Answer(200, (("etag", "2"), ("Date", "Tue")))
    assert compare(a, b, Spec(headers=("Date",), body="none")).where == "Date"
    assert compare(a, b, Spec(headers=("etag",), body="none")).text() == "etag: stable 1 · shadow 2"
    assert compare(a, b, Spec(body="none")) is None


@pytest.mark.parametrize("bad", ["time", "$.", "$[x]", "$.a..b"])
def test_a_bad_ignore_path_is_refused_saying_what_is_valid(bad):
    with pytest.raises(PathError, match="segments are|starts with \\$"):
        parse_path(bad)
