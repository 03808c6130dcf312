"""The pure parts of the proxy's request checks: chunk framing, target forms, the error log."""

import pytest

from zerodown.proxy.chunked import BAD, ChunkedEnd, chunk_size
from zerodown.proxy.errlog import ErrorLog
from zerodown.proxy.hygiene import origin_form


@pytest.mark.parametrize("line,size", [(b"5", 5), (b"a", 10), (b"FF;ext=1", 255),
                                       (b"0", 0), (b"5 ;x", 5), (b"1" * 16, int("1" * 16, 16))])
def test_chunk_size_of_a_good_line(line, size):
    assert chunk_size(line) == size


@pytest.mark.parametrize("line", [b"", b"zz", b"-1", b"0x5", b"5 5", b"+5", b" 5", b"1" * 17,
                                  b"SM", b"PRI * HTTP/2.0", b"\xff"])
def test_chunk_size_of_a_bad_line_is_bad_not_an_exception(line):
    assert chunk_size(line) == BAD


def test_chunked_end_finds_the_end_across_reads_and_reports_broken_framing():
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /next"
    for cut in range(1, len(body)):
        c = ChunkedEnd()
        first = c.feed(body[:cut])
        end = first if first >= 0 else cut + c.feed(body[cut:])
        assert body[end:] == b"GET /next", cut
    assert ChunkedEnd().feed(b"5\r\nhello\r\nzz\r\n") == BAD
    assert ChunkedEnd().feed(b"5;" + b"e" * 5000) == BAD  # an endless size line, before its LF


@pytest.mark.parametrize("target,line,host", [
    (b"http://h:81/a?b", b"GET /a?b HTTP/1.1", b"h:81"),
    (b"HTTPS://h", b"GET / HTTP/1.1", b"h"),
    (b"http://h?q", b"GET /?q HTTP/1.1", b"h"),
    (b"http://[::1]:8/x", b"GET /x HTTP/1.1", b"[::1]:8"),
])
def test_an_absolute_form_target_becomes_origin_form_with_its_host(target, line, host):
    head = b"GET " + target + b" HTTP/1.1\r\nHost: old\r\nhost: older\r\nX: 1\r\n\r\n"
    out = origin_form(head, 3, head.find(b"\r\n"))
    assert out == line + b"\r\nHost: " + host + b"\r\nX: 1\r\n\r\n"


@pytest.mark.parametrize("target", [b"http://u@h/", b"ftp://h/", b"//h/", b"h/x", b"http://",
                                    b"http://h h/"])
def test_any_other_target_is_refused(target):
    head = b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n"
    assert origin_form(head, 3, head.find(b"\r\n")) == b""


def test_the_error_log_lets_n_lines_a_second_through_and_counts_the_rest():
    now, out = [0.0], []
    log = ErrorLog(3, clock=lambda: now[0], write=out.append)
    for _ in range(10):
        log.line("bad\nthing")
    assert out == ["zerodown proxy: bad thing"] * 3
    now[0] = 1.0
    log.line("next")
    assert out[3:] == ["zerodown proxy: 7 more error lines held back (at most 3 a second)",
                       "zerodown proxy: next"]
