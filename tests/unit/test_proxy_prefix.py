"""zerodown/proxy/prefix.py: a path prefix taken off a request target matched to it."""

import pytest

from zerodown.proxy.prefix import header_line, normal, stripped


@pytest.mark.parametrize("target,seen", [
    (b"/api/v1/users?id=7", b"/v1/users?id=7"),
    (b"/api", b"/"),
    (b"/api/", b"/"),
    (b"/api?q=1", b"/?q=1"),
    (b"/api//x", b"//x"),  # what follows is the backend's business, byte for byte
])
def test_the_prefix_goes_and_a_root_stays(target, seen):
    head = b"GET " + target + b" HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert stripped(head, b"/api") == b"GET " + seen + b" HTTP/1.1\r\nHost: example.com\r\n\r\n"


@pytest.mark.parametrize("written,mount", [("/api/", "/api"), ("api", "/api"), ("/", "/"),
                                           ("", "/"), ("/a/b/", "/a/b")])
def test_a_prefix_is_one_mount_however_it_is_written(written, mount):
    assert normal(written) == mount


def test_the_backend_is_told_the_prefix():
    assert header_line("/api") == b"X-Forwarded-Prefix: /api\r\n"
