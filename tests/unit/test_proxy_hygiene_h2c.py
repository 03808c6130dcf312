"""hygiene.without_h2c: an HTTP/1.1 request's ask to upgrade to h2c, taken out exactly."""

import pytest

from zerodown.proxy.hygiene import ASKS_H2C, without_h2c


def head(*fields: str) -> bytes:
    return ("GET / HTTP/1.1\r\nHost: t\r\n" + "".join(f + "\r\n" for f in fields) + "\r\n").encode()


@pytest.mark.parametrize("fields,left", [
    (("Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMA"), ()),
    (("connection: keep-alive, upgrade,http2-settings", "UPGRADE: H2C", "Accept: */*"),
     ("connection: keep-alive", "Accept: */*")),
    # another protocol asked beside h2c keeps its upgrade (a WebSocket is tunnelled as ever)
    (("Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c, websocket", "HTTP2-Settings: x"),
     ("Connection: Upgrade", "Upgrade: websocket")),
    (("Connection: HTTP2-Settings", "Upgrade: h2c"), ()),
])
def test_the_ask_goes_and_the_rest_stays(fields, left):
    assert ASKS_H2C(head(*fields)) is not None
    assert without_h2c(head(*fields)) == head(*left)


def test_only_an_upgrade_field_naming_h2c_is_an_ask():
    assert ASKS_H2C(head("Upgrade: websocket", "X-Note: h2c")) is None
