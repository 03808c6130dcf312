"""A load balancer's process record (proxy.pid, haproxy.pid) read by one function:
anything but what `_record` writes is no record, so the process is found by its command
line instead (routers/common.py process_record; the embedded proxy's whole path is in
tests/component/test_embedded_router.py)."""

import pytest

from zerodown.routers.common import process_record


@pytest.mark.parametrize("text", [None, "", "garbage{", "1", "[]", '"x"', "null", '{"pid": "7"}',
                                  '{"pid": true}', '{"listen": "127.0.0.1:1"}',
                                  '{"pid": 7, "start_time": "soon"}'])
def test_what_is_not_a_record_is_none(text):
    assert process_record(text) is None


def test_a_record_as_written():
    assert process_record('{"pid": 7, "start_time": 88, "listen": "x"}') == {
        "pid": 7, "start_time": 88, "listen": "x"}
    assert process_record('{"pid": 7}') == {"pid": 7, "start_time": None}
