"""`zerodown exec --all`'s output (commands/in_order.py): each host's block whole, in the
configured order, whatever order the hosts write and end in; the first host shown live."""

from __future__ import annotations

import io

from zerodown.commands import in_order
from zerodown.commands.in_order import InOrder


def test_blocks_come_in_host_order_and_the_first_host_is_live():
    out = io.BytesIO()
    shown = InOrder(["app1", "app2", "app3"], out)
    shown.write("app3", b"app3 | c1\n")
    shown.write("app2", b"app2 | b1\n")
    shown.write("app1", b"app1 | a1\n")
    assert out.getvalue() == b"app1 | a1\n", "the first host's line as it comes, no other"
    shown.end("app3")  # the last ends first: still held
    shown.write("app2", b"app2 | b2\n")
    assert out.getvalue() == b"app1 | a1\n"
    shown.end("app1")  # app2's held lines shown, app2 live from now
    assert out.getvalue() == b"app1 | a1\napp2 | b1\napp2 | b2\n"
    shown.write("app2", b"app2 | b3\n")
    assert out.getvalue().endswith(b"app2 | b3\n")
    shown.end("app2")  # app3 ended already: shown at once
    assert out.getvalue() == (b"app1 | a1\napp2 | b1\napp2 | b2\napp2 | b3\n"
                              b"app3 | c1\n")


def test_a_host_s_held_output_past_memory_goes_to_a_file_and_comes_back_whole(monkeypatch):
    monkeypatch.setattr(in_order, "HELD", 1000)
    out = io.BytesIO()
    shown = InOrder(["app1", "app2"], out)
    lines = b"".join(b"app2 | line %d\n" % i for i in range(500))
    for at in range(0, len(lines), 700):
        shown.write("app2", lines[at:at + 700])
    shown.end("app2")
    assert out.getvalue() == b""
    shown.end("app1")
    assert out.getvalue() == lines
