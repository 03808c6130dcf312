"""tokens.json that is not as `zerodown token create` writes it is said, naming the file
and the way out, by every reader: the CLI's token commands (exit 2) and the API's check of
a bearer token (an answer, without the path); never a traceback."""

import json

import pytest

from zerodown.api.auth import Tokens, TokenError, bearer
from zerodown.api.errors import ApiError
from zerodown.cli import main as run

DAMAGED = ["garbage{", "[1]", '"x"', '{"ci": 1}', '{"ci": {"sha256": 5, "created": 1}}',
           '{"ci": {"sha256": "ab"}}']


@pytest.mark.parametrize("text", DAMAGED)
def test_a_damaged_tokens_file_is_named_with_the_way_out(tmp_path, text):
    (tmp_path / "tokens.json").write_text(text)
    tokens = Tokens(tmp_path)
    for act in (tokens.load, lambda: tokens.create("ci"), lambda: tokens.verify("zd_x")):
        with pytest.raises(TokenError) as e:
            act()
        assert str(tmp_path / "tokens.json") in str(e.value)
        assert "move it aside" in str(e.value)
    with pytest.raises(ApiError) as e:
        bearer(tokens, {"authorization": "Bearer zd_x"}, {})
    assert e.value.status == 500 and "tokens file" in e.value.message
    assert str(tmp_path) not in e.value.message  # not for whoever asked


def test_a_sound_file_still_checks_tokens(tmp_path):
    tokens = Tokens(tmp_path)
    token = tokens.create("ci")
    assert tokens.verify(token) == "ci" and tokens.verify("zd_x") is None
    assert set(json.loads((tmp_path / "tokens.json").read_text())["ci"]) == {"sha256", "created"}


def test_the_cli_says_it_as_a_usage_error(tmp_path, capsys):
    (tmp_path / "zerodown.yaml").write_text("service: web\nlisten: 127.0.0.1:8080\n"
                                            "app: {command: [app, '{port}']}\n")
    state = tmp_path / ".zerodown"
    state.mkdir()
    (state / "tokens.json").write_text("[1]")
    for action in ("create", "list", "revoke"):
        code = run(["token", action, "ci", "-f", str(tmp_path / "zerodown.yaml")])
        err = capsys.readouterr().err
        assert code == 2 and "cannot read the API's tokens" in err and "Traceback" not in err
