"""An action's answer its client left before reading is said in the controller's log.

A deploy on a fleet whose upload outlasted the command line's wait was refused, naming
the host, to a client gone by then: the controller's log showed a BrokenPipeError
traceback (`zerodown logs controller`, where the busy message sends the user) and no word
of the refusal."""

from __future__ import annotations

import socket
import threading

from tests.support.net import wait_until
from zerodown.api.errors import ApiError
from zerodown.api.server import Reply, UnixServer, serve_in_thread


def test_an_actions_answer_nobody_read_is_logged_with_its_error(tmp_path, capsys):
    gone = threading.Event()

    def app(request):
        gone.wait(10)   # answered only once its client has left
        return Reply.json(409, ApiError(409, "release v2 could not be uploaded, nothing "
                                             "was changed:\n  zdf2: no answer").body())
    server = UnixServer(str(tmp_path / "controller.sock"), app)
    serve_in_thread(server, "api")
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(tmp_path / "controller.sock"))
            client.sendall(b"POST /api/v1/deployments HTTP/1.1\r\nHost: localhost\r\n"
                           b"Content-Length: 2\r\n\r\n{}")
        gone.set()
        said = wait_until(lambda: capsys.readouterr().out or None, what="a line in the log")
    finally:
        server.shutdown()
        server.server_close()
    assert "POST /api/v1/deployments by " in said, said
    assert "answered 409: release v2 could not be uploaded" in said, said
    assert "zdf2: no answer" in said and "its client had gone" in said, said
    assert "Traceback" not in said, said
