"""Bearer tokens for the TCP listener: `zerodown token create NAME` prints one once;
only its SHA-256 is kept, in <state dir>/tokens.json (mode 0600).

A token is 32 random bytes, so a plain hash is enough (no password stretching):
nobody can guess one, and a stolen tokens.json does not reveal them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from pathlib import Path

from zerodown.api.errors import ApiError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$")
PREFIX = "zd_"


class TokenError(ValueError):
    """A token name that is not valid, or not known; or tokens.json that cannot be read."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, state_dir: str | os.PathLike):
        self.path = Path(state_dir) / "tokens.json"
        self._cache: tuple[float, dict] | None = None

    def load(self) -> dict[str, dict]:
        """{name: {"sha256": ..., "created": ...}}; re-read when the file changed."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if self._cache is None or self._cache[0] != mtime:
            self._cache = (mtime, self._read())
        return self._cache[1]

    def _read(self) -> dict[str, dict]:
        """tokens.json as `create` writes it; a TokenError naming the file and the way out
        if it is not (edited by hand, cut short, another program's file): every check of a
        token would otherwise fail on it as an internal error."""
        try:
            known = json.loads(self.path.read_text() or "{}")
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise self._unreadable(getattr(e, "strerror", None) or f"not JSON: {e}") from None
        if not isinstance(known, dict):
            raise self._unreadable(f"a JSON {type(known).__name__}, not an object")
        for name, entry in known.items():
            if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                    and isinstance(entry.get("created"), (int, float))):
                raise self._unreadable(f"token {name!r} has no sha256 and created")
        return known

    def _unreadable(self, why: str) -> TokenError:
        return TokenError(f"{self.path}: cannot read the API's tokens ({why}); it holds "
                          f'{{"NAME": {{"sha256": ..., "created": ...}}}} as `zerodown token '
                          f"create` writes it: move it aside and create the tokens again (the "
                          f"old ones stop working)")

    def create(self, name: str) -> str:
        if not NAME.match(name):
            raise TokenError(f"token name {name!r} must be 1-63 letters, digits, _ . @ or -, "
                             "starting with a letter or digit")
        known = dict(self.load())
        if name in known:
            raise TokenError(f"a token named {name!r} exists (`zerodown token revoke {name}` "
                             "first to replace it)")
        token = PREFIX + secrets.token_urlsafe(32)
        known[name] = {"sha256": digest(token), "created": round(time.time(), 3)}
        self._write(known)
        return token

    def revoke(self, name: str) -> None:
        known = dict(self.load())
        if name not in known:
            raise TokenError(f"no token named {name!r} (known: {', '.join(sorted(known)) or 'none'})")
        del known[name]
        self._write(known)

    def verify(self, token: str) -> str | None:
        """The name of the token, or None."""
        want = digest(token)
        for name, entry in self.load().items():
            if hmac.compare_digest(entry["sha256"], want):
                return name
        return None

    def _write(self, known: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(known, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)  # durable and whole before anyone reads it
        self._cache = None


def bearer(tokens: Tokens, headers: dict[str, str], query: dict[str, str]) -> str:
    """The name of the token the request carries (header, or ?token= for the dashboard link)."""
    value = headers.get("authorization", "")
    token = value[7:].strip() if value[:7].lower() == "bearer " else query.get("token", "")
    if not token:
        raise ApiError(401, "a bearer token is required on TCP (Authorization: Bearer <token>; "
                            "`zerodown token create NAME` makes one)", "Authorization")
    try:
        name = tokens.verify(token)
    except TokenError:  # the path and details are for its owner, not for whoever asked
        raise ApiError(500, "the controller cannot read its tokens file, so no token can be "
                            "checked: `zerodown token list` on its machine says why") from None
    if name is None:
        raise ApiError(401, "the bearer token is not valid (revoked, or never created here)",
                       "Authorization")
    return name
